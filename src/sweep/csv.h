/* sweep/csv.h — the result files of tern sweep and tern hybrid: plain CSV,
 * comma-separated, no quoting (no field holds a comma), "" for a missing
 * number; what tern writes, its readers read back exactly. */
#ifndef TERN_SWEEP_CSV_H
#define TERN_SWEEP_CSV_H

#include "io/config_doc.h"
#include "tern/config.h"

/* ",<v in fmt>", or "," alone for NaN. */
void tern_csv_put_num(cbuf *b, const char *fmt, double v);

/* Split line (its '\n' removed) at commas in place into field: the number
 * of fields, max + 1 when there are more than max. */
int tern_csv_split(char *line, char **field, int max);

/* A field as a number: "" is NaN; anything else must parse whole (1), else 0. */
int tern_csv_num(const char *s, double *v);

/* cfg as YAML without its comment lines and without output.dir, after
 * the lines of `header`, into b: what every run of a sweep or search
 * directory means, compared on a rerun. */
tern_status tern_csv_config_text(tern_config *cfg, const char *header, cbuf *b);

/* The first line where texts a and b differ (1-based), 0 when equal. */
int tern_csv_first_diff_line(const char *a, const char *b);

#endif
