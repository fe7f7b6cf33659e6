/* image.c — image files: PNG (libpng), JPEG (libjpeg-turbo) and the PNM
 * family (P2, P3, P5, P6), decoded to 8-bit pixels (h, w, c), c = 1 or 3;
 * then converted to a model's channels and size as floats (C, H, W).
 *
 * A declared size is checked against TERN_IMAGE_MAX_SIDE and
 * TERN_IMAGE_MAX_PIXELS before the pixels are allocated, so a crafted header
 * costs no memory. libpng and libjpeg report errors by longjmp: the handlers
 * copy the library's message and jump back here; nothing is printed. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h> /* after stdio.h, which it needs */
#include <png.h>

#include "data_impl.h"
#include "io/fsutil.h"

void tern_image_free(tern_image *img) {
    if (!img) return;
    free(img->px);
    memset(img, 0, sizeof *img);
}

/* Refuse a declared size before anything is allocated for it. */
static tern_status check_size(const char *path, long long w, long long h) {
    if (w < 1 || h < 1 || w > TERN_IMAGE_MAX_SIDE || h > TERN_IMAGE_MAX_SIDE || w * h > TERN_IMAGE_MAX_PIXELS)
        return tern_error(TERN_ERR_FORMAT, "%s: declared size %lldx%lld is outside 1..%d per side and %d pixels", path,
                          w, h, TERN_IMAGE_MAX_SIDE, TERN_IMAGE_MAX_PIXELS);
    return TERN_OK;
}

static tern_status alloc_px(tern_image *img, const char *path, int h, int w, int c) {
    img->px = malloc((size_t)h * w * c);
    if (!img->px) return tern_error(TERN_ERR_NOMEM, "%s: cannot allocate %dx%d pixels", path, w, h);
    img->h = h, img->w = w, img->c = c;
    return TERN_OK;
}

/* ---- PNG ---------------------------------------------------------------------- */

typedef struct png_ctx {
    jmp_buf jmp;
    char msg[200];
    png_bytep *rows;
} png_ctx;

static void png_on_error(png_structp p, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(p);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    longjmp(c->jmp, 1);
}

static void png_on_warning(png_structp p, png_const_charp msg) { (void)p, (void)msg; }

/* Palette expanded, gray below 8 bits widened, 16 bits scaled to 8
 * (p * 255 / 65535, rounded), alpha and tRNS dropped: 1 or 3 channels. */
static tern_status read_png(FILE *f, const char *path, tern_image *img) {
    png_ctx ctx = {.rows = NULL};
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!info) {
        png_destroy_read_struct(&p, NULL, NULL);
        return tern_error(TERN_ERR_NOMEM, "%s: out of memory", path);
    }
    tern_status st = TERN_OK;
    if (setjmp(ctx.jmp)) {
        st = tern_error(TERN_ERR_FORMAT, "%s: corrupt PNG: %s", path, ctx.msg);
        goto done;
    }
    png_init_io(p, f);
    png_set_user_limits(p, TERN_IMAGE_MAX_SIDE, TERN_IMAGE_MAX_SIDE);
    png_read_info(p, info);
    png_uint_32 w = png_get_image_width(p, info), h = png_get_image_height(p, info);
    int type = png_get_color_type(p, info), depth = png_get_bit_depth(p, info);
    if ((st = check_size(path, w, h))) goto done;
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(p);
    if ((type & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(p);
    if (depth == 16) png_set_scale_16(p);
    png_set_strip_alpha(p);
    png_set_interlace_handling(p);
    png_read_update_info(p, info);
    int c = png_get_channels(p, info);
    if (c != 1 && c != 3) {
        st = tern_error(TERN_ERR_FORMAT, "%s: PNG decodes to %d channels, expected 1 or 3", path, c);
        goto done;
    }
    if ((st = alloc_px(img, path, (int)h, (int)w, c))) goto done;
    ctx.rows = malloc(sizeof *ctx.rows * h);
    if (!ctx.rows) {
        st = tern_error(TERN_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) ctx.rows[y] = img->px + (size_t)y * w * c;
    png_read_image(p, ctx.rows);
    png_read_end(p, NULL);
done:
    free(ctx.rows);
    png_destroy_read_struct(&p, &info, NULL);
    if (st) tern_image_free(img);
    return st;
}

/* ---- JPEG --------------------------------------------------------------------- */

typedef struct jpeg_ctx {
    struct jpeg_error_mgr mgr;  /* first: libjpeg hands back this pointer */
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
} jpeg_ctx;

static void jpeg_on_error(j_common_ptr j) {
    jpeg_ctx *c = (jpeg_ctx *)j->err;
    j->err->format_message(j, c->msg);
    longjmp(c->jmp, 1);
}

/* A warning (premature end of file, corrupt data) is an error: libjpeg would
 * go on and fill the rest of the image with gray. */
static void jpeg_on_message(j_common_ptr j, int level) {
    if (level < 0) jpeg_on_error(j);
}

static tern_status read_jpeg(FILE *f, const char *path, tern_image *img) {
    struct jpeg_decompress_struct d;
    jpeg_ctx ctx;
    d.err = jpeg_std_error(&ctx.mgr);
    ctx.mgr.error_exit = jpeg_on_error;
    ctx.mgr.emit_message = jpeg_on_message;
    tern_status st = TERN_OK;
    if (setjmp(ctx.jmp)) {
        st = tern_error(TERN_ERR_FORMAT, "%s: corrupt JPEG: %s", path, ctx.msg);
        goto done;
    }
    jpeg_create_decompress(&d);
    jpeg_stdio_src(&d, f);
    jpeg_read_header(&d, TRUE);
    if ((st = check_size(path, d.image_width, d.image_height))) goto done;
    if (d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK) {
        st = tern_error(TERN_ERR_UNSUPPORTED, "%s: CMYK JPEG; save it as RGB", path);
        goto done;
    }
    d.out_color_space = d.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&d);
    if ((st = alloc_px(img, path, (int)d.output_height, (int)d.output_width, d.output_components))) goto done;
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = img->px + (size_t)d.output_scanline * d.output_width * d.output_components;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
done:
    jpeg_destroy_decompress(&d);
    if (st) tern_image_free(img);
    return st;
}

/* ---- PNM: P2 / P3 (ASCII), P5 / P6 (binary) --------------------------------------- */

/* The next decimal number, after whitespace and '#' comments; -1 when none. */
static long pnm_number(FILE *f) {
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        if (ch == '#')
            while ((ch = fgetc(f)) != EOF && ch != '\n') {}
        else if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
            break;
    }
    if (ch < '0' || ch > '9') return -1;
    long v = 0;
    for (; ch >= '0' && ch <= '9'; ch = fgetc(f))
        if ((v = v * 10 + (ch - '0')) > 1L << 30) return -1;
    if (ch != EOF && ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') return -1;
    return v;
}

/* Samples scaled to 8 bits: p * 255 / maxval, rounded. */
static tern_status read_pnm(FILE *f, const char *path, int kind, tern_image *img) {
    int c = kind == '3' || kind == '6' ? 3 : 1, ascii = kind == '2' || kind == '3';
    long w = pnm_number(f), h = w < 0 ? -1 : pnm_number(f), maxv = h < 0 ? -1 : pnm_number(f);
    if (maxv < 1 || maxv > 65535)
        return tern_error(TERN_ERR_FORMAT, "%s: unreadable P%c header (width, height, maxval 1..65535)", path, kind);
    tern_status st = check_size(path, w, h);
    if (!st) st = alloc_px(img, path, (int)h, (int)w, c);
    size_t n = (size_t)w * h * c;
    for (size_t i = 0; !st && i < n; i++) {
        long v;
        if (ascii) {
            v = pnm_number(f);
        } else {
            int hi = maxv > 255 ? fgetc(f) : 0, lo = fgetc(f);
            v = hi == EOF || lo == EOF ? -1 : hi << 8 | lo;
        }
        if (v < 0 || v > maxv)
            st = v < 0 ? tern_error(TERN_ERR_FORMAT, "%s: truncated or unreadable at sample %zu of %zu", path, i, n)
                       : tern_error(TERN_ERR_FORMAT, "%s: sample %zu is %ld, above maxval %ld", path, i, v, maxv);
        else
            img->px[i] = (unsigned char)((v * 255 + maxv / 2) / maxv);
    }
    if (st) tern_image_free(img);
    return st;
}

tern_status tern_image_read(const char *path, tern_image *img) {
    if (!path || !img) return tern_error(TERN_ERR_ARG, "image read: NULL argument");
    memset(img, 0, sizeof *img);
    FILE *f = NULL;
    tern_status st = tern_fs_fopen_regular(path, "rb", &f, NULL);
    if (st) return st;
    unsigned char m[8] = {0};
    size_t got = fread(m, 1, sizeof m, f);
    rewind(f);
    if (got == 8 && !png_sig_cmp(m, 0, 8))
        st = read_png(f, path, img);
    else if (got >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF)
        st = read_jpeg(f, path, img);
    else if (got >= 2 && m[0] == 'P' && m[1] >= '2' && m[1] <= '6' && m[1] != '4') {
        fseek(f, 2, SEEK_SET);
        st = read_pnm(f, path, m[1], img);
    } else
        st = tern_error(TERN_ERR_UNSUPPORTED, "%s: not a PNG, JPEG or PNM (P2, P3, P5, P6) image", path);
    fclose(f);
    return st;
}

/* ---- conversion --------------------------------------------------------------- */

void tern_image_resize(const float *src, int c, int h, int w, float *dst, int H, int W) {
    /* Pixel centres line up: output y samples input y' = (y + 0.5) h / H - 0.5,
     * clamped to [0, h-1]; the same along x. */
    for (int y = 0; y < H; y++) {
        float fy = ((float)y + 0.5f) * (float)h / (float)H - 0.5f;
        fy = fy < 0.0f ? 0.0f : fy > (float)(h - 1) ? (float)(h - 1) : fy;
        int y0 = (int)fy, y1 = y0 + 1 < h ? y0 + 1 : y0;
        float ay = fy - (float)y0;
        for (int x = 0; x < W; x++) {
            float fx = ((float)x + 0.5f) * (float)w / (float)W - 0.5f;
            fx = fx < 0.0f ? 0.0f : fx > (float)(w - 1) ? (float)(w - 1) : fx;
            int x0 = (int)fx, x1 = x0 + 1 < w ? x0 + 1 : x0;
            float ax = fx - (float)x0;
            for (int k = 0; k < c; k++) {
                const float *s = src + (size_t)k * h * w;  /* (h, w) */
                float top = s[(size_t)y0 * w + x0] * (1.0f - ax) + s[(size_t)y0 * w + x1] * ax;
                float bot = s[(size_t)y1 * w + x0] * (1.0f - ax) + s[(size_t)y1 * w + x1] * ax;
                dst[((size_t)k * H + y) * W + x] = top * (1.0f - ay) + bot * ay;
            }
        }
    }
}

tern_status tern_image_convert(const tern_image *img, const char *path, int C, int H, int W, int resize, float *out) {
    if (!img || !img->px || !out || (C != 1 && C != 3))
        return tern_error(TERN_ERR_ARG, "image convert: no image, or %d channels (expected 1 or 3)", C);
    if ((img->h != H || img->w != W) && !resize)
        return tern_error(TERN_ERR_SHAPE, "%s: image is %dx%d (HxW) but %dx%d is expected; set dataset.resize: true "
                          "to resize it", path, img->h, img->w, H, W);
    const size_t hw = (size_t)img->h * img->w;
    float *chw = out;  /* (C, h, w): out itself when no resize is needed */
    if (img->h != H || img->w != W) {
        chw = malloc(sizeof(float) * C * hw);
        if (!chw) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t j = 0; j < hw; j++) {
        const unsigned char *p = img->px + j * img->c;
        if (C == img->c) {
            for (int k = 0; k < C; k++) chw[k * hw + j] = (float)p[k] / 255.0f;
        } else if (C == 3) {  /* gray to RGB: replicated */
            for (int k = 0; k < 3; k++) chw[k * hw + j] = (float)p[0] / 255.0f;
        } else {  /* RGB to gray: ITU-R BT.601 luma */
            chw[j] = (0.299f * (float)p[0] + 0.587f * (float)p[1] + 0.114f * (float)p[2]) / 255.0f;
        }
    }
    if (chw != out) {
        tern_image_resize(chw, C, img->h, img->w, out, H, W);
        free(chw);
    }
    return TERN_OK;
}
