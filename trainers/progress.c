/* progress.c — the live progress line of `tern train` (progress.h). */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cli.h"

#define BAR_MIN 10
#define BAR_MAX 30
#define N_FIELDS 6

/* t seconds as "M:SS" or "H:MM:SS"; "?" when not known. */
static void fmt_time(double t, char *out, size_t cap) {
    if (!(t >= 0.0) || t > 359999.0) {
        snprintf(out, cap, "?");
        return;
    }
    int s = (int)(t + 0.5);
    if (s >= 3600) snprintf(out, cap, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    else snprintf(out, cap, "%d:%02d", s / 60, s % 60);
}

/* The optional fields of s, most wanted first, each with its leading "  ";
 * returns how many. */
static int fields(const progress_state *s, char f[N_FIELDS][64]) {
    char a[24], b[24];
    int n = 0;
    fmt_time(s->elapsed_s, a, sizeof a);
    fmt_time(s->eta_s, b, sizeof b);
    snprintf(f[n++], 64, "  %s eta %s", a, b);
    if (s->split) return n;
    snprintf(f[n++], 64, "  loss %.4f", s->loss);
    snprintf(f[n++], 64, "  acc %.2f%%", 100.0 * s->acc);
    if (s->rate >= 0.0) snprintf(f[n++], 64, "  %.0f/s", s->rate);
    if (s->epoch < s->epochs) {
        fmt_time(s->run_eta_s, a, sizeof a);
        snprintf(f[n++], 64, "  run eta %s", a);
    }
    snprintf(f[n++], 64, "  lr %.2e", s->lr);
    return n;
}

int progress_fit(const progress_state *s, int width, char *out, size_t cap) {
    width = width < PROGRESS_MIN_WIDTH ? PROGRESS_MIN_WIDTH : width > PROGRESS_MAX_WIDTH ? PROGRESS_MAX_WIDTH : width;
    const int limit = width - 1;
    char head[96], count[32], f[N_FIELDS][64];
    if (s->split) snprintf(head, sizeof head, "epoch %d/%d eval %s", s->epoch, s->epochs, s->split);
    else snprintf(head, sizeof head, "epoch %d/%d", s->epoch, s->epochs);
    /* b padded to B's digits: the bar keeps its width through the epoch. */
    char total[16];
    const int digits = snprintf(total, sizeof total, "%d", s->batches);
    snprintf(count, sizeof count, " %*d/%s", digits, s->batch, total);
    int nf = fields(s, f);
    /* " [" bar "]" costs 3 columns besides the bar. */
    int used = (int)(strlen(head) + strlen(count)) + 3;
    for (int i = 0; i < nf; i++) used += (int)strlen(f[i]);
    while (nf > 0 && used + BAR_MIN > limit) used -= (int)strlen(f[--nf]);
    int bar = limit - used;
    bar = bar > BAR_MAX ? BAR_MAX : bar;
    char line[PROGRESS_MAX_WIDTH * 2];
    int len = snprintf(line, sizeof line, "%s", head);
    if (bar > 0) {
        const int done = s->batches > 0 ? (int)((long)bar * s->batch / s->batches) : 0;
        line[len++] = ' ';
        line[len++] = '[';
        for (int i = 0; i < bar; i++) line[len++] = i < done ? '#' : '.';
        line[len++] = ']';
        line[len] = '\0';
    }
    len += snprintf(line + len, sizeof line - (size_t)len, "%s", count);
    for (int i = 0; i < nf; i++) len += snprintf(line + len, sizeof line - (size_t)len, "%s", f[i]);
    /* Only a head longer than the narrowest terminal (epochs in the
     * billions) gets here too long: cut it. */
    if (len > limit) len = limit;
    line[len] = '\0';
    snprintf(out, cap, "%s", line);
    return len < (int)cap ? len : (int)cap - 1;
}

void progress_print_fields(FILE *f, const char *const *fields, int n, const char *sep, int width) {
    int col = 0, start = 1;  /* start: no field on this line yet */
    for (int i = 0; i < n; i++) {
        if (!start && width > 0 && col + (int)(strlen(sep) + strlen(fields[i])) > width - 1) {
            fputs("\n  ", f);
            col = 2;
            start = 1;
        }
        col += fprintf(f, "%s%s", start ? "" : sep, fields[i]);
        start = 0;
    }
    fputc('\n', f);
}

int progress_width(int fd) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int cols;
    if (c && cli_int(c, 1, 100000, &cols)) return cols;
    return 80;
}
