/*
 * xl_config.c: the xl snapshot proposal's KEY=VALUE config file, parsed into
 * the same vms_snapshot_def as <domainsnapshot> XML.
 *
 * Two passes: a lexer/parser that only knows the syntax (settings, quoted
 * strings, lists) and collects one value per key, then an interpreter that
 * maps the keys onto the definition in a fixed order (type before memory and
 * disk, so a file may set them in any order). docs/formats/xl-config.md has
 * the grammar and the reasons behind each decision.
 */
#include "conf/xl_config.h"

#include <string.h>

#include "util/error.h"
#include "util/names.h"

#define XL_PATH_MAX  4095 /* PATH_MAX minus the terminator */
#define XL_VDEV_MAX  64
#define XL_SHOWN_MAX 64 /* bytes of a user's value quoted back in a message */

static const char creationtime_warning[] = "creationtime is set by vmsnap when the snapshot is "
                                           "taken; the value in the config is ignored";

typedef enum {
    KEY_NAME,
    KEY_DESCRIPTION,
    KEY_CREATIONTIME,
    KEY_MEMORY,
    KEY_TYPE,
    KEY_DISK,
    N_KEYS,
} xl_key;

static const char *const key_names[N_KEYS] = {
    "name", "description", "creationtime", "memory", "type", "disk",
};

#define KNOWN_KEYS "name, description, creationtime, memory, type, disk"

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

/* A user's value as it may appear inside '...' in a message: C escapes for
 * control characters and quotes, UTF-8 kept, cut after XL_SHOWN_MAX bytes. */
static char *shown(const char *value)
{
    size_t len = strlen(value);
    bool cut = len > XL_SHOWN_MAX;
    g_autofree char *head = NULL;
    if (cut) {
        const char *end = value + XL_SHOWN_MAX;
        /* Back up to a character boundary so the message stays UTF-8. */
        while (end > value && ((unsigned char)*end & 0xC0) == 0x80)
            end--;
        head = g_strndup(value, (gsize)(end - value));
    } else {
        head = g_strdup(value);
    }
    char high[129];
    for (int i = 0; i < 128; i++)
        high[i] = (char)(0x80 + i);
    high[128] = '\0';
    g_autofree char *escaped = g_strescape(head, high);
    return cut ? g_strconcat(escaped, "...", NULL) : g_steal_pointer(&escaped);
}

/* ------------------------------------------------------------------ */
/* Whole-input checks                                                  */
/* ------------------------------------------------------------------ */

static bool check_utf8(const char *data, size_t len, vmsnap_error **error)
{
    const char *bad = NULL;
    if (g_utf8_validate(data, (gssize)len, &bad))
        return true;
    unsigned int line = 1;
    for (const char *p = data; p < bad; p++)
        line += *p == '\n';
    vms_error_set(error, VMSNAP_ERR_CONFIG,
                  "line %u: byte 0x%02x is not valid UTF-8; save the config as UTF-8 text", line,
                  (unsigned char)*bad);
    return false;
}

/* Refuse control characters outside tab and line ends (LF or CRLF). Inside
 * strings, \t and \n say the same thing visibly. */
static bool check_control_chars(const char *data, size_t len, vmsnap_error **error)
{
    unsigned int line = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '\n') {
            line++;
            continue;
        }
        if (c == '\t' || (c == '\r' && i + 1 < len && data[i + 1] == '\n'))
            continue;
        if (c == 0) {
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: NUL byte; an xl config is text and may not contain NUL bytes",
                          line);
            return false;
        }
        if (c < 0x20 || c == 0x7f) {
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: control character 0x%02x; remove it (inside a quoted string, "
                          "write \\t for a tab or \\n for a newline)",
                          line, c);
            return false;
        }
    }
    return true;
}

static bool check_input(const char *data, size_t len, vmsnap_error **error)
{
    if (len > VMS_XL_CONFIG_MAX_BYTES) {
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "the xl config is %zu bytes; the limit is %u bytes: a snapshot config is a "
                      "few settings, check that this is the right file",
                      len, VMS_XL_CONFIG_MAX_BYTES);
        return false;
    }
    /* NUL first: g_utf8_validate stops at NUL and would blame the wrong byte. */
    const char *nul = memchr(data, '\0', len);
    if (nul)
        return check_control_chars(data, (size_t)(nul - data) + 1, error);
    return check_utf8(data, len, error) && check_control_chars(data, len, error);
}

/* ------------------------------------------------------------------ */
/* Lexer                                                               */
/* ------------------------------------------------------------------ */

typedef enum {
    TOK_EOF,
    TOK_NEWLINE,
    TOK_WORD,   /* a run of bare characters: a key, or a number as a value */
    TOK_STRING, /* '...' or "...", escapes resolved */
    TOK_EQUALS,
    TOK_LBRACKET,
    TOK_RBRACKET,
    TOK_COMMA,
    TOK_OTHER, /* any other character; text says which, for messages */
} xl_token_kind;

typedef struct {
    xl_token_kind kind;
    unsigned int line;
    size_t start; /* offset of the first byte */
    char *text;   /* TOK_WORD, TOK_STRING, TOK_OTHER */
} xl_token;

typedef struct {
    const char *data;
    size_t len;
    size_t pos;
    unsigned int line;
    xl_token tok; /* the token just read */
} xl_lexer;

/* Wider than a key needs, so that a mistyped key ('snap-name') or an
 * unquoted value (/abs/path, 1.5) reads as one word in the message. */
static bool is_word_char(char c)
{
    return c != '\0' && (g_ascii_isalnum(c) || strchr("_-.+/:", c) != NULL);
}

static int lex_peek(const xl_lexer *lex)
{
    return lex->pos < lex->len ? (unsigned char)lex->data[lex->pos] : -1;
}

/* Spaces, tabs, the CR of a CRLF and comments; stops at '\n'. */
static void lex_skip_blanks(xl_lexer *lex)
{
    for (;;) {
        int c = lex_peek(lex);
        if (c == ' ' || c == '\t' || c == '\r') {
            lex->pos++;
        } else if (c == '#') {
            while (lex_peek(lex) != -1 && lex_peek(lex) != '\n')
                lex->pos++;
        } else {
            return;
        }
    }
}

/* How the character at @pos reads in a message. */
static char *describe_char_at(const xl_lexer *lex, size_t pos)
{
    unsigned char c = (unsigned char)lex->data[pos];
    if (c < 0x80)
        return g_strdup_printf("'%c'", c);
    gunichar u = g_utf8_get_char(lex->data + pos);
    return g_strdup_printf("U+%04X", u);
}

static bool lex_escape(xl_lexer *lex, GString *out, vmsnap_error **error)
{
    int c = lex_peek(lex);
    switch (c) {
    case '\\':
    case '"':
    case '\'':
        g_string_append_c(out, (char)c);
        break;
    case 'n':
        g_string_append_c(out, '\n');
        break;
    case 't':
        g_string_append_c(out, '\t');
        break;
    default: {
        if (c == -1 || c == '\n' || c == '\r')
            return true; /* the caller reports the unterminated string */
        g_autofree char *what = describe_char_at(lex, lex->pos);
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: unknown escape: backslash followed by %s; inside a quoted string "
                      "the escapes are \\\\ \\\" \\' \\n \\t",
                      lex->line, what);
        return false;
    }
    }
    lex->pos++;
    return true;
}

/* A quoted string; lex->pos is on the opening quote. Strings end on their
 * line: a missing closing quote is reported on the line it opened. */
static bool lex_string(xl_lexer *lex, vmsnap_error **error)
{
    char quote = lex->data[lex->pos++];
    g_autoptr(GString) out = g_string_new(NULL);
    for (;;) {
        int c = lex_peek(lex);
        if (c == -1 || c == '\n' || c == '\r') {
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: unterminated string; close it with %c before the end of the "
                          "line (strings cannot span lines: write \\n for a newline)",
                          lex->line, quote);
            return false;
        }
        lex->pos++;
        if (c == quote)
            break;
        if (c == '\\') {
            if (!lex_escape(lex, out, error))
                return false;
            continue;
        }
        g_string_append_c(out, (char)c);
    }
    lex->tok.kind = TOK_STRING;
    lex->tok.text = g_string_free(g_steal_pointer(&out), FALSE);
    return true;
}

/* Read the next token into lex->tok (freeing the previous one). */
static bool lex_next(xl_lexer *lex, vmsnap_error **error)
{
    g_clear_pointer(&lex->tok.text, g_free);
    lex_skip_blanks(lex);
    lex->tok.line = lex->line;
    lex->tok.start = lex->pos;
    int c = lex_peek(lex);
    switch (c) {
    case -1:
        lex->tok.kind = TOK_EOF;
        return true;
    case '\n':
        lex->pos++;
        lex->line++;
        lex->tok.kind = TOK_NEWLINE;
        return true;
    case '=':
        lex->pos++;
        lex->tok.kind = TOK_EQUALS;
        return true;
    case '[':
        lex->pos++;
        lex->tok.kind = TOK_LBRACKET;
        return true;
    case ']':
        lex->pos++;
        lex->tok.kind = TOK_RBRACKET;
        return true;
    case ',':
        lex->pos++;
        lex->tok.kind = TOK_COMMA;
        return true;
    case '"':
    case '\'':
        return lex_string(lex, error);
    default:
        break;
    }
    if (is_word_char((char)c)) {
        size_t start = lex->pos;
        while (lex_peek(lex) != -1 && is_word_char((char)lex_peek(lex)))
            lex->pos++;
        lex->tok.kind = TOK_WORD;
        lex->tok.text = g_strndup(lex->data + start, lex->pos - start);
        return true;
    }
    /* The parser knows what it expected; let it word the message. */
    lex->tok.kind = TOK_OTHER;
    lex->tok.text = describe_char_at(lex, lex->pos);
    lex->pos += (size_t)g_utf8_skip[(unsigned char)c];
    return true;
}

/* Skip line ends (inside a list, where they do not end the setting). */
static bool lex_next_skip_newlines(xl_lexer *lex, vmsnap_error **error)
{
    do {
        if (!lex_next(lex, error))
            return false;
    } while (lex->tok.kind == TOK_NEWLINE);
    return true;
}

static char *describe_token(const xl_token *tok)
{
    switch (tok->kind) {
    case TOK_EOF:
        return g_strdup("the end of the file");
    case TOK_NEWLINE:
        return g_strdup("the end of the line");
    case TOK_WORD: {
        g_autofree char *s = shown(tok->text);
        return g_strdup_printf("'%s'", s);
    }
    case TOK_STRING:
        return g_strdup("a quoted string");
    case TOK_EQUALS:
        return g_strdup("'='");
    case TOK_LBRACKET:
        return g_strdup("'['");
    case TOK_RBRACKET:
        return g_strdup("']'");
    case TOK_COMMA:
        return g_strdup("','");
    case TOK_OTHER:
        return g_strdup(tok->text);
    }
    return g_strdup("?");
}

/* ------------------------------------------------------------------ */
/* Parser: settings as written                                         */
/* ------------------------------------------------------------------ */

typedef struct {
    char *value;
    unsigned int line;
} xl_item;

static void xl_item_free(xl_item *item)
{
    g_free(item->value);
    g_free(item);
}

typedef struct {
    bool set;
    unsigned int line; /* where the key is */
    char *value;       /* a single value, or NULL for a list */
    GPtrArray *items;  /* xl_item *, for a list */
} xl_setting;

typedef struct {
    xl_lexer lex;
    xl_setting settings[N_KEYS];
} xl_parser;

static void xl_parser_clear(xl_parser *p)
{
    g_clear_pointer(&p->lex.tok.text, g_free);
    for (int i = 0; i < N_KEYS; i++) {
        g_clear_pointer(&p->settings[i].value, g_free);
        g_clear_pointer(&p->settings[i].items, g_ptr_array_unref);
    }
}

static bool all_digits(const char *s)
{
    for (; *s; s++)
        if (!g_ascii_isdigit(*s))
            return false;
    return true;
}

static int lookup_key(const char *word)
{
    for (int i = 0; i < N_KEYS; i++)
        if (strcmp(word, key_names[i]) == 0)
            return i;
    return -1;
}

static bool list_not_closed(unsigned int open_line, const char *key, vmsnap_error **error)
{
    vms_error_set(error, VMSNAP_ERR_CONFIG,
                  "line %u: the list for '%s' is not closed; end it with ']'", open_line, key);
    return false;
}

/* The list after '['; lex->tok is the '['. */
static bool parse_list(xl_parser *p, const char *key, xl_setting *setting, vmsnap_error **error)
{
    xl_lexer *lex = &p->lex;
    unsigned int open_line = lex->tok.line;
    setting->items = g_ptr_array_new_with_free_func((GDestroyNotify)xl_item_free);
    for (;;) {
        if (!lex_next_skip_newlines(lex, error))
            return false;
        if (lex->tok.kind == TOK_RBRACKET)
            return true;
        if (lex->tok.kind == TOK_EOF)
            return list_not_closed(open_line, key, error);
        if (lex->tok.kind != TOK_STRING) {
            g_autofree char *found = describe_token(&lex->tok);
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: expected a quoted string or ']' in the list for '%s', found "
                          "%s",
                          lex->tok.line, key, found);
            return false;
        }
        xl_item *item = g_new0(xl_item, 1);
        item->value = g_steal_pointer(&lex->tok.text);
        item->line = lex->tok.line;
        g_ptr_array_add(setting->items, item);

        if (!lex_next_skip_newlines(lex, error))
            return false;
        if (lex->tok.kind == TOK_RBRACKET)
            return true;
        if (lex->tok.kind == TOK_EOF)
            return list_not_closed(open_line, key, error);
        if (lex->tok.kind != TOK_COMMA) {
            g_autofree char *found = describe_token(&lex->tok);
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: expected ',' or ']' after an entry in the list for '%s', "
                          "found %s",
                          lex->tok.line, key, found);
            return false;
        }
    }
}

/* The value after '='. */
static bool parse_value(xl_parser *p, const char *key, xl_setting *setting, vmsnap_error **error)
{
    xl_lexer *lex = &p->lex;
    if (!lex_next(lex, error))
        return false;
    switch (lex->tok.kind) {
    case TOK_STRING:
        setting->value = g_steal_pointer(&lex->tok.text);
        return true;
    case TOK_LBRACKET:
        return parse_list(p, key, setting, error);
    case TOK_WORD:
        /* Bare numbers are values, as in xl.cfg; bare words are a typo for a
         * string more often than not, so say how to quote them. */
        if (all_digits(lex->tok.text)) {
            setting->value = g_steal_pointer(&lex->tok.text);
            return true;
        } else {
            g_autofree char *s = shown(lex->tok.text);
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: the value of '%s' must be quoted: write %s=\"%s\"",
                          lex->tok.line, key, key, s);
            return false;
        }
    case TOK_NEWLINE:
    case TOK_EOF:
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: '%s' has no value; write %s=\"VALUE\" or remove the line",
                      setting->line, key, key);
        return false;
    default: {
        g_autofree char *found = describe_token(&lex->tok);
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: expected a quoted string, a number or a list after '%s=', found "
                      "%s; write %s=\"VALUE\"",
                      lex->tok.line, key, found, key);
        return false;
    }
    }
}

/* One KEY=VALUE setting; lex->tok is the key. */
static bool parse_setting(xl_parser *p, vmsnap_error **error)
{
    xl_lexer *lex = &p->lex;
    unsigned int line = lex->tok.line;
    if (lex->tok.kind != TOK_WORD) {
        g_autofree char *found = describe_token(&lex->tok);
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: expected a setting such as name=\"snap1\", found %s", line, found);
        return false;
    }
    int key = lookup_key(lex->tok.text);
    if (key < 0) {
        g_autofree char *s = shown(lex->tok.text);
        vms_error_set(error, VMSNAP_ERR_CONFIG, "line %u: unknown key '%s'; known keys are %s",
                      line, s, KNOWN_KEYS);
        return false;
    }
    const char *name = key_names[key];
    xl_setting *setting = &p->settings[key];
    if (setting->set) {
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: '%s' is already set on line %u; set each key once", line, name,
                      setting->line);
        return false;
    }
    setting->set = true;
    setting->line = line;

    if (!lex_next(lex, error))
        return false;
    if (lex->tok.kind != TOK_EQUALS) {
        g_autofree char *found = describe_token(&lex->tok);
        vms_error_set(error, VMSNAP_ERR_CONFIG, "line %u: expected '=' after '%s', found %s",
                      lex->tok.line, name, found);
        return false;
    }
    if (!parse_value(p, name, setting, error))
        return false;
    bool after_string = setting->value && lex->tok.kind == TOK_STRING;
    size_t value_end = lex->pos;

    if (!lex_next(lex, error))
        return false;
    if (lex->tok.kind != TOK_NEWLINE && lex->tok.kind != TOK_EOF) {
        g_autofree char *found = describe_token(&lex->tok);
        /* 'it's' ends at the second quote: say so. */
        const char *hint = after_string && lex->tok.kind == TOK_WORD && lex->tok.start == value_end
                               ? " (a quote inside a string ends it: write \\' or \\\" to "
                                 "keep it)"
                               : "";
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: found %s after the value of '%s'%s; put each setting on a line "
                      "of its own",
                      lex->tok.line, found, name, hint);
        return false;
    }
    return true;
}

static bool parse_settings(xl_parser *p, vmsnap_error **error)
{
    for (;;) {
        if (!lex_next(&p->lex, error))
            return false;
        if (p->lex.tok.kind == TOK_EOF)
            return true;
        if (p->lex.tok.kind == TOK_NEWLINE)
            continue;
        if (!parse_setting(p, error))
            return false;
    }
}

/* ------------------------------------------------------------------ */
/* Interpretation: settings onto the definition                        */
/* ------------------------------------------------------------------ */

/* The single value of a key that is set; NULL (with an error) for a list. */
static const char *single_value(const xl_setting *setting, xl_key key, vmsnap_error **error)
{
    if (setting->value)
        return setting->value;
    vms_error_set(error, VMSNAP_ERR_CONFIG,
                  "line %u: '%s' takes one quoted value, not a list: write %s=\"...\"",
                  setting->line, key_names[key], key_names[key]);
    return NULL;
}

static bool apply_name(const xl_setting *setting, vms_snapshot_def *def, vmsnap_error **error)
{
    const char *value = single_value(setting, KEY_NAME, error);
    if (!value)
        return false;
    vmsnap_error *name_err = NULL;
    if (!vms_name_validate("snapshot", value, &name_err)) {
        vms_error_prefix(&name_err, "line %u: ", setting->line);
        vms_error_propagate(error, name_err);
        return false;
    }
    def->name = g_strdup(value);
    return true;
}

static bool apply_description(const xl_setting *setting, vms_snapshot_def *def,
                              vmsnap_error **error)
{
    const char *value = single_value(setting, KEY_DESCRIPTION, error);
    if (!value)
        return false;
    /* An empty description is no description, as in the XML. */
    def->description = *value ? g_strdup(value) : NULL;
    return true;
}

static bool apply_creationtime(const xl_setting *setting, GPtrArray *warnings, vmsnap_error **error)
{
    if (!single_value(setting, KEY_CREATIONTIME, error))
        return false;
    g_ptr_array_add(warnings, g_strdup(creationtime_warning));
    return true;
}

/* type= gives the kind for disks without a target and for memory="yes";
 * vmsnap's default kind is external. */
static bool resolve_type(const xl_setting *setting, vms_snap_location *type, vmsnap_error **error)
{
    *type = VMS_SNAP_LOCATION_EXTERNAL;
    if (!setting->set)
        return true;
    const char *value = single_value(setting, KEY_TYPE, error);
    if (!value)
        return false;
    if (strcmp(value, "internal") == 0) {
        *type = VMS_SNAP_LOCATION_INTERNAL;
        return true;
    }
    if (strcmp(value, "external") == 0)
        return true;
    g_autofree char *s = shown(value);
    vms_error_set(error, VMSNAP_ERR_CONFIG,
                  "line %u: type must be \"internal\" or \"external\", not '%s'", setting->line, s);
    return false;
}

/* An absolute path a user gave for a file vmsnap will create. */
static bool check_path(const char *path, unsigned int line, const char *what, vmsnap_error **error)
{
    size_t len = strlen(path);
    if (len > XL_PATH_MAX) {
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: the %s path is %zu bytes long; the limit is %d bytes", line, what,
                      len, XL_PATH_MAX);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c < 0x20 || c == 0x7f) {
            g_autofree char *s = shown(path);
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: the %s path '%s' contains a control character; choose a "
                          "path without one",
                          line, what, s);
            return false;
        }
    }
    return true;
}

static bool apply_memory(const xl_setting *setting, vms_snap_location type, vms_snapshot_def *def,
                         vmsnap_error **error)
{
    const char *value = single_value(setting, KEY_MEMORY, error);
    if (!value)
        return false;
    if (strcmp(value, "no") == 0) {
        def->memory = VMS_SNAP_LOCATION_NO;
        def->state = VMSNAP_SNAPSHOT_STATE_DISK_SNAPSHOT;
        return true;
    }
    /* Saved memory means the domain was running; the proposal has no key
     * for the state, and taking a snapshot records the real one anyway. */
    if (strcmp(value, "yes") == 0) {
        /* For external memory the file is chosen when the snapshot is taken. */
        def->memory = type;
        def->state = VMSNAP_SNAPSHOT_STATE_RUNNING;
        return true;
    }
    if (value[0] == '/') {
        if (!check_path(value, setting->line, "memory", error))
            return false;
        def->memory = VMS_SNAP_LOCATION_EXTERNAL;
        def->memory_file = g_strdup(value);
        def->state = VMSNAP_SNAPSHOT_STATE_RUNNING;
        return true;
    }
    g_autofree char *s = shown(value);
    /* Something that looks like a file name gets the path advice. */
    if (strchr(value, '/') || strchr(value, '.')) {
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: memory path '%s' is relative; give an absolute path (starting "
                      "with '/'), or \"yes\" or \"no\"",
                      setting->line, s);
        return false;
    }
    vms_error_set(error, VMSNAP_ERR_CONFIG,
                  "line %u: memory must be \"yes\", \"no\" or an absolute path for the memory "
                  "file, not '%s'",
                  setting->line, s);
    return false;
}

/* The sub-keys of one disk entry, as written. */
typedef struct {
    const char *vdev;
    const char *target;
    const char *format;
} xl_disk_spec;

static bool is_vdev_char(char c)
{
    return g_ascii_isalnum(c) || c == '_' || c == '-';
}

static bool check_vdev(const char *vdev, unsigned int line, size_t index, vmsnap_error **error)
{
    size_t len = strlen(vdev);
    if (len == 0) {
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: disk entry %zu has an empty vdev; name the disk as the domain "
                      "does, e.g. 'vdev=hda'",
                      line, index);
        return false;
    }
    if (len > XL_VDEV_MAX) {
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: disk entry %zu: vdev is %zu bytes long; the limit is %d bytes",
                      line, index, len, XL_VDEV_MAX);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_vdev_char(vdev[i])) {
            g_autofree char *s = shown(vdev);
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: disk entry %zu: vdev '%s' is not a device name; use letters, "
                          "digits, '_' and '-' (e.g. 'hda', 'xvda', 'vdb')",
                          line, index, s);
            return false;
        }
    }
    return true;
}

/* Split 'k=v,k=v' into @spec. Pointers borrow from @buf, which is modified. */
static bool split_disk_spec(char *buf, unsigned int line, size_t index, xl_disk_spec *spec,
                            vmsnap_error **error)
{
    char *rest = buf;
    for (;;) {
        char *comma = strchr(rest, ',');
        if (comma)
            *comma = '\0';
        char *item = g_strstrip(rest);
        if (!*item && !comma && rest == buf) {
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: disk entry %zu is empty; write e.g. 'vdev=hda' or "
                          "'vdev=hda,target=null'",
                          line, index);
            return false;
        }
        if (!*item) {
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: disk entry %zu has an empty item; items are KEY=VALUE "
                          "separated by single commas, e.g. 'vdev=hda,target=null' (the "
                          "positional form 'target,format,vdev' is not supported)",
                          line, index);
            return false;
        }
        char *eq = strchr(item, '=');
        if (!eq) {
            g_autofree char *s = shown(item);
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: disk entry %zu: '%s' is not KEY=VALUE; write e.g. "
                          "'vdev=hda,target=/var/lib/snap/hda.qcow2' (paths may not contain "
                          "commas)",
                          line, index, s);
            return false;
        }
        *eq = '\0';
        char *key = g_strchomp(item);
        char *value = g_strchug(eq + 1);
        const char **slot = NULL;
        if (strcmp(key, "vdev") == 0)
            slot = &spec->vdev;
        else if (strcmp(key, "target") == 0)
            slot = &spec->target;
        else if (strcmp(key, "format") == 0)
            slot = &spec->format;
        if (!slot) {
            g_autofree char *s = shown(key);
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: disk entry %zu: unknown item '%s'; the items are vdev, target "
                          "and format",
                          line, index, s);
            return false;
        }
        if (*slot) {
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: disk entry %zu sets '%s' twice; set it once", line, index, key);
            return false;
        }
        *slot = value;
        if (!comma)
            return true;
        rest = comma + 1;
    }
}

static bool resolve_disk_target(const xl_disk_spec *spec, unsigned int line, vms_snap_location type,
                                vms_snapshot_disk *disk, vmsnap_error **error)
{
    if (!spec->target) {
        disk->snapshot = type;
        return true;
    }
    if (strcmp(spec->target, "null") == 0) {
        disk->snapshot = VMS_SNAP_LOCATION_NO;
        return true;
    }
    if (spec->target[0] == '/') {
        if (!check_path(spec->target, line, "target", error))
            return false;
        disk->snapshot = VMS_SNAP_LOCATION_EXTERNAL;
        disk->source_file = g_strdup(spec->target);
        return true;
    }
    g_autofree char *s = shown(spec->target);
    vms_error_set(error, VMSNAP_ERR_CONFIG,
                  "line %u: disk '%s': target '%s' is not an absolute path; give the new "
                  "overlay's absolute path (starting with '/'), or null to leave the disk out",
                  line, disk->name, s);
    return false;
}

static bool resolve_disk_format(const xl_disk_spec *spec, unsigned int line,
                                vms_snapshot_disk *disk, vmsnap_error **error)
{
    if (!spec->format)
        return true;
    if (strcmp(spec->format, "qcow2") == 0) {
        disk->format = VMS_DISK_FORMAT_QCOW2;
    } else if (strcmp(spec->format, "raw") == 0) {
        disk->format = VMS_DISK_FORMAT_RAW;
    } else {
        g_autofree char *s = shown(spec->format);
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: disk '%s': format must be qcow2 or raw, not '%s'", line, disk->name,
                      s);
        return false;
    }
    /* The format is the new file's: only an external snapshot makes one. */
    if (disk->snapshot != VMS_SNAP_LOCATION_EXTERNAL) {
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: disk '%s': format=%s applies only to an external snapshot (give "
                      "target=/path or type=\"external\"), or remove it",
                      line, disk->name, spec->format);
        return false;
    }
    return true;
}

static vms_snapshot_disk *parse_disk(const xl_item *item, size_t index, vms_snap_location type,
                                     vmsnap_error **error)
{
    g_autofree char *buf = g_strdup(item->value);
    xl_disk_spec spec = {0};
    if (!split_disk_spec(buf, item->line, index, &spec, error))
        return NULL;
    if (!spec.vdev) {
        g_autofree char *s = shown(item->value);
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: disk entry %zu ('%s') has no vdev; name the disk as the domain "
                      "does, e.g. 'vdev=hda'",
                      item->line, index, s);
        return NULL;
    }
    if (!check_vdev(spec.vdev, item->line, index, error))
        return NULL;

    vms_snapshot_disk *disk = g_new0(vms_snapshot_disk, 1);
    disk->name = g_strdup(spec.vdev);
    if (!resolve_disk_target(&spec, item->line, type, disk, error) ||
        !resolve_disk_format(&spec, item->line, disk, error)) {
        g_free(disk->name);
        g_free(disk->source_file);
        g_free(disk);
        return NULL;
    }
    return disk;
}

static bool apply_disks(const xl_setting *setting, vms_snap_location type, vms_snapshot_def *def,
                        vmsnap_error **error)
{
    if (!setting->items) {
        vms_error_set(error, VMSNAP_ERR_CONFIG,
                      "line %u: disk takes a list: write disk=['vdev=hda', "
                      "'vdev=hdb,target=/abs/path']",
                      setting->line);
        return false;
    }
    GPtrArray *items = setting->items;
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    if (items->len == 0)
        return true; /* disk=[] says nothing, like no disk key */
    def->disks = g_new0(vms_snapshot_disk *, items->len + 1);
    for (guint i = 0; i < items->len; i++) {
        const xl_item *item = g_ptr_array_index(items, i);
        vms_snapshot_disk *disk = parse_disk(item, i + 1, type, error);
        if (!disk)
            return false;
        def->disks[def->ndisks++] = disk;
        const xl_item *first = g_hash_table_lookup(seen, disk->name);
        if (first) {
            vms_error_set(error, VMSNAP_ERR_CONFIG,
                          "line %u: disk '%s' is already listed on line %u; list each disk once",
                          item->line, disk->name, first->line);
            return false;
        }
        g_hash_table_insert(seen, disk->name, (gpointer)item);
    }
    return true;
}

static bool apply_settings(const xl_parser *p, vms_snapshot_def *def, GPtrArray *warnings,
                           vmsnap_error **error)
{
    const xl_setting *s = p->settings;
    vms_snap_location type;
    if (s[KEY_NAME].set && !apply_name(&s[KEY_NAME], def, error))
        return false;
    if (s[KEY_DESCRIPTION].set && !apply_description(&s[KEY_DESCRIPTION], def, error))
        return false;
    if (s[KEY_CREATIONTIME].set && !apply_creationtime(&s[KEY_CREATIONTIME], warnings, error))
        return false;
    if (!resolve_type(&s[KEY_TYPE], &type, error))
        return false;
    /* The proposal's type applies to every disk, listed or not. */
    if (s[KEY_TYPE].set)
        def->default_disk_kind = type;
    if (s[KEY_MEMORY].set && !apply_memory(&s[KEY_MEMORY], type, def, error))
        return false;
    if (s[KEY_DISK].set && !apply_disks(&s[KEY_DISK], type, def, error))
        return false;
    return true;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */
/* ------------------------------------------------------------------ */

static const char utf8_bom[] = "\xEF\xBB\xBF";

bool vms_xl_config_detect(const char *text)
{
    if (!text)
        return false;
    const char *p = text;
    if (g_str_has_prefix(p, utf8_bom))
        p += strlen(utf8_bom);
    for (;;) {
        while (*p && g_ascii_isspace(*p))
            p++;
        if (*p != '#')
            break;
        while (*p && *p != '\n')
            p++;
    }
    return *p != '<';
}

vms_snapshot_def *vms_xl_config_parse_bytes(const char *data, size_t len, GPtrArray *warnings,
                                            vmsnap_error **error)
{
    if (!data) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "no xl config text was given");
        return NULL;
    }
    if (!check_input(data, len, error))
        return NULL;
    /* A BOM is how some editors mark UTF-8; it is not content. */
    if (len >= 3 && memcmp(data, utf8_bom, 3) == 0) {
        data += 3;
        len -= 3;
    }

    xl_parser p = {.lex = {.data = data, .len = len, .line = 1}};
    g_autoptr(GPtrArray) new_warnings = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(vms_snapshot_def) def = g_new0(vms_snapshot_def, 1);
    bool ok = parse_settings(&p, error) && apply_settings(&p, def, new_warnings, error);
    xl_parser_clear(&p);
    if (!ok)
        return NULL;

    /* Warnings only reach the caller with a definition they belong to. */
    for (guint i = 0; warnings && i < new_warnings->len; i++)
        g_ptr_array_add(warnings, g_strdup(g_ptr_array_index(new_warnings, i)));
    return g_steal_pointer(&def);
}

vms_snapshot_def *vms_xl_config_parse(const char *text, GPtrArray *warnings, vmsnap_error **error)
{
    return vms_xl_config_parse_bytes(text, text ? strlen(text) : 0, warnings, error);
}
