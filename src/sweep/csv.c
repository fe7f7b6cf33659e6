/* csv.c — the few CSV rules tern's result files share (sweep/csv.h). */
#include "sweep/csv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A number or "" for NaN; the formats round-trip through the reader. */
void tern_csv_put_num(cbuf *b, const char *fmt, double v) {
    tern_cdoc_buf_puts(b, ",");
    if (!isnan(v)) tern_cdoc_buf_printf(b, fmt, v);
}

/* Split line (its '\n' removed) at commas in place: up to max fields. */
int tern_csv_split(char *line, char **field, int max) {
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line;;) {
        if (n == max) return max + 1;
        field[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

/* A field as a number: "" is NaN; anything else must parse whole. */
int tern_csv_num(const char *s, double *v) {
    if (!*s) {
        *v = NAN;
        return 1;
    }
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return !errno && !*end;
}

