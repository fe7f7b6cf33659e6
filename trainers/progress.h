/* progress.h — the live progress line `tern train` draws on a terminal: the
 * state it shows, one pure function that fits it to the terminal's width,
 * and that width. Everything it writes is ASCII, one byte a column. */
#ifndef PROGRESS_H
#define PROGRESS_H

#include <stddef.h>
#include <stdio.h>

/* What the line shows. Negative times and rates are not known yet. */
typedef struct progress_state {
    const char *split;      /* NULL: training; "validation" or "test": evaluating that split */
    int epoch, epochs;      /* 1-based epoch in progress, of epochs */
    int batch, batches;     /* batches done (training or evaluating), of batches */
    double elapsed_s;       /* wall seconds since this epoch's training (or this evaluation) began */
    double eta_s;           /* seconds left of this epoch's training (or this evaluation) */
    double run_eta_s;       /* seconds left of the whole run (training and evaluations) */
    double rate;            /* training samples per second over the last few seconds */
    float loss, acc, lr;    /* training: running means of the epoch, and the learning rate */
} progress_state;

/* The narrowest and widest terminal the line is fitted to. */
#define PROGRESS_MIN_WIDTH 40
#define PROGRESS_MAX_WIDTH 200

/* s as one line of at most width - 1 columns (width clamped to [40, 200];
 * the last column stays free so no terminal wraps), NUL-terminated in out
 * (cap bytes, at least PROGRESS_MAX_WIDTH): "epoch e/E [bar] b/B" (or "epoch
 * e/E eval SPLIT [bar] b/B"), then the fields in this order, dropped from
 * the right while the line would not fit with a bar of 10: "elapsed eta T"
 * (of the epoch), loss, acc, samples/s, "run eta T", lr; the bar then takes
 * what is left, up to 30, and shrinks below 10 (to nothing) only when no
 * field is left. Returns the line's length. */
int progress_fit(const progress_state *s, int width, char *out, size_t cap);

/* fields[0..n) on f joined by sep and ended by a newline; with
 * width > 0, a field that would reach column width starts a new line,
 * indented by two spaces (a field longer than a line is left whole). */
void progress_print_fields(FILE *f, const char *const *fields, int n, const char *sep, int width);

/* The columns of the terminal on fd (TIOCGWINSZ), else $COLUMNS, else 80. */
int progress_width(int fd);

#endif
