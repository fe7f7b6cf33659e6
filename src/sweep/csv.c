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


tern_status tern_csv_config_text(tern_config *cfg, const char *header, cbuf *b) {
    cfg->output_dir[0] = '\0';
    char *yaml = NULL;
    tern_status st = tern_config_to_yaml(cfg, &yaml, NULL);
    if (st) return st;
    tern_cdoc_buf_puts(b, header);
    for (const char *p = yaml; *p;) {
        size_t n = strcspn(p, "\n");
        if (*p != '#') {
            tern_cdoc_buf_putn(b, p, n);
            tern_cdoc_buf_puts(b, "\n");
        }
        p += n + (p[n] == '\n');
    }
    free(yaml);
    return TERN_OK;
}

int tern_csv_first_diff_line(const char *a, const char *b) {
    int line = 1;
    for (; *a && *a == *b; a++, b++) line += *a == '\n';
    return *a == *b ? 0 : line;
}
