/* progress.c: the terminal progress bar (see progress.h). */
#include "progress.h"

#include <glib.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define REDRAW_US (G_USEC_PER_SEC / 10)
#define BAR_CELLS 20

static struct {
    char *what;         /* phase being drawn; NULL: no bar line open */
    gint64 started;     /* monotonic µs at the phase's first report */
    gint64 drawn;       /* monotonic µs of the last redraw */
    unsigned int width; /* terminal columns */
} bar;

/* "105.0 MiB" with a unit that keeps the number short. */
static void format_size(GString *out, unsigned long long bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = (double)bytes;
    size_t unit = 0;
    while (value >= 1024 && unit + 1 < G_N_ELEMENTS(units)) {
        value /= 1024;
        unit++;
    }
    if (unit == 0)
        g_string_append_printf(out, "%llu B", bytes);
    else
        g_string_append_printf(out, "%.1f %s", value, units[unit]);
}

char *cli_progress_format(const char *what, unsigned long long done, unsigned long long total,
                          double seconds, unsigned int width)
{
    GString *line = g_string_new(what);
    if (total > 0) {
        if (done > total)
            done = total;
        unsigned int filled = (unsigned int)(done * BAR_CELLS / total);
        g_string_append(line, "  [");
        for (unsigned int i = 0; i < BAR_CELLS; i++)
            g_string_append_c(line, i < filled ? '#' : '.');
        g_string_append_printf(line, "] %3u%%  ", (unsigned int)(done * 100 / total));
    } else {
        g_string_append(line, "  ");
    }
    format_size(line, done);
    if (total > 0) {
        g_string_append(line, " of ");
        format_size(line, total);
    }
    /* A rate needs a moment of history to mean anything. */
    if (seconds >= 0.2 && done > 0) {
        double rate = (double)done / seconds;
        g_string_append(line, "  ");
        format_size(line, (unsigned long long)rate);
        g_string_append(line, "/s");
        if (total > done) {
            unsigned long long eta = (unsigned long long)((double)(total - done) / rate + 0.5);
            g_string_append_printf(line, "  ETA %llu:%02llu", eta / 60, eta % 60);
        }
    }
    if (width > 1 && line->len >= width)
        g_string_truncate(line, width - 1);
    return g_string_free(line, FALSE);
}

static unsigned int terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

void cli_progress_finish(void)
{
    if (!bar.what)
        return;
    fputc('\n', stderr);
    fflush(stderr);
    g_clear_pointer(&bar.what, g_free);
}

static void draw(const char *what, unsigned long long done, unsigned long long total, void *opaque)
{
    (void)opaque;
    gint64 now = g_get_monotonic_time();
    bool new_phase = !bar.what || g_strcmp0(bar.what, what) != 0;
    bool phase_end = total > 0 && done >= total;
    if (new_phase) {
        cli_progress_finish();
        bar.what = g_strdup(what);
        bar.started = now;
        bar.width = terminal_width();
    } else if (!phase_end && now - bar.drawn < REDRAW_US) {
        return;
    }
    bar.drawn = now;
    g_autofree char *line = cli_progress_format(
        what, done, total, (double)(now - bar.started) / G_USEC_PER_SEC, bar.width);
    /* \r and erase-to-end: redraw in place over a longer previous line. */
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    if (phase_end)
        cli_progress_finish();
}

void cli_progress_attach(vmsnap_conn *conn)
{
    const char *term = g_getenv("TERM");
    if (!isatty(STDERR_FILENO) || g_strcmp0(term, "dumb") == 0)
        return;
    vmsnap_conn_set_progress_callback(conn, draw, NULL, 0, NULL);
}
