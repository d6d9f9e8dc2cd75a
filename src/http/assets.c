/*
 * assets.c - the web page's files, embedded in the binary.
 *
 * The assembler's .incbin copies each file of src/http/assets/ into
 * .rodata when this file is compiled, so there is no generated source and
 * nothing to run before `make`.  Paths are relative to the top of the tree,
 * where make runs the compiler; the Makefile makes assets.o depend on
 * every file in src/http/assets/, so editing the page rebuilds it.
 */
#include "http/http_int.h"

#include <string.h>

#define ASSET_EMBED(sym, file)                                          \
	__asm__(".section .rodata\n"                                    \
	    ".global " #sym "_start\n"                                  \
	    ".global " #sym "_end\n"                                    \
	    ".balign 16\n"                                              \
	    #sym "_start:\n"                                            \
	    ".incbin \"" file "\"\n"                                    \
	    #sym "_end:\n"                                              \
	    ".byte 0\n"                                                 \
	    ".previous\n");                                             \
	extern const unsigned char sym##_start[], sym##_end[]

ASSET_EMBED(http_asset_index_html, "src/http/assets/index.html");
ASSET_EMBED(http_asset_app_js, "src/http/assets/app.js");
ASSET_EMBED(http_asset_style_css, "src/http/assets/style.css");
ASSET_EMBED(http_asset_icon_svg, "src/http/assets/icon.svg");

struct asset_entry {
	const char *path;
	const char *ctype;
	const unsigned char *start, *end;
};

static const struct asset_entry assets[] = {
	{ "/", "text/html; charset=utf-8",
	    http_asset_index_html_start, http_asset_index_html_end },
	{ "/app.js", "text/javascript; charset=utf-8",
	    http_asset_app_js_start, http_asset_app_js_end },
	{ "/style.css", "text/css; charset=utf-8",
	    http_asset_style_css_start, http_asset_style_css_end },
	{ "/icon.svg", "image/svg+xml",
	    http_asset_icon_svg_start, http_asset_icon_svg_end },
};

int
http_asset_find(const char *path, struct http_asset *out)
{
	size_t i;

	for (i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
		if (strcmp(assets[i].path, path) == 0) {
			out->path = assets[i].path;
			out->ctype = assets[i].ctype;
			out->data = assets[i].start;
			out->len = (size_t)(assets[i].end - assets[i].start);
			return 0;
		}
	}
	return -1;
}
