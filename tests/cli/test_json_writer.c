/* test_json_writer.c: the CLI's JSON writer: layout, escaping, UTF-8. */
#include "json_writer.h"

static void assert_escaped(const char *in, const char *expected)
{
    g_autoptr(GString) out = g_string_new(NULL);
    json_escape_string(out, in);
    g_assert_cmpstr(out->str, ==, expected);
}

static void test_escaping(void)
{
    assert_escaped("plain", "\"plain\"");
    assert_escaped("", "\"\"");
    assert_escaped("say \"hi\"", "\"say \\\"hi\\\"\"");
    assert_escaped("back\\slash", "\"back\\\\slash\"");
    assert_escaped("a\nb\tc\rd\be\ff", "\"a\\nb\\tc\\rd\\be\\ff\"");
    assert_escaped("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
    assert_escaped("/ is fine", "\"/ is fine\"");
    assert_escaped("ünïcødé ☃ 日本", "\"ünïcødé ☃ 日本\"");
    /* Not UTF-8: each bad byte becomes U+FFFD, the rest is kept. */
    assert_escaped("a\xff"
                   "b\xc3",
                   "\"a\xef\xbf\xbd"
                   "b\xef\xbf\xbd\"");
}

static void test_layout(void)
{
    g_autoptr(json_writer) w = json_writer_new();
    json_begin_array(w);
    json_begin_object(w);
    json_key(w, "name");
    json_string(w, "a");
    json_key(w, "parent");
    json_null(w);
    json_key(w, "n");
    json_int(w, -1700000000123LL);
    json_key(w, "ok");
    json_bool(w, true);
    json_key(w, "no");
    json_bool(w, false);
    json_key(w, "children");
    json_begin_array(w);
    json_end_array(w);
    json_key(w, "empty");
    json_begin_object(w);
    json_end_object(w);
    json_end_object(w);
    json_string(w, NULL);
    json_end_array(w);
    g_assert_cmpstr(json_writer_get(w), ==,
                    "[\n"
                    "  {\n"
                    "    \"name\": \"a\",\n"
                    "    \"parent\": null,\n"
                    "    \"n\": -1700000000123,\n"
                    "    \"ok\": true,\n"
                    "    \"no\": false,\n"
                    "    \"children\": [],\n"
                    "    \"empty\": {}\n"
                    "  },\n"
                    "  null\n"
                    "]\n");
}

static void test_empty_array(void)
{
    g_autoptr(json_writer) w = json_writer_new();
    json_begin_array(w);
    json_end_array(w);
    g_assert_cmpstr(json_writer_get(w), ==, "[]\n");
}

static void test_keys_are_escaped(void)
{
    g_autoptr(json_writer) w = json_writer_new();
    json_begin_object(w);
    json_key(w, "k\"ey");
    json_int(w, 0);
    json_end_object(w);
    g_assert_cmpstr(json_writer_get(w), ==, "{\n  \"k\\\"ey\": 0\n}\n");
}

/* Misuse is a bug in the caller: the writer aborts rather than emit bad JSON. */
static void test_value_without_key_aborts(void)
{
    if (g_test_subprocess()) {
        g_autoptr(json_writer) w = json_writer_new();
        json_begin_object(w);
        json_int(w, 1);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/json_writer/escaping", test_escaping);
    g_test_add_func("/json_writer/layout", test_layout);
    g_test_add_func("/json_writer/empty_array", test_empty_array);
    g_test_add_func("/json_writer/keys_are_escaped", test_keys_are_escaped);
    g_test_add_func("/json_writer/value_without_key_aborts", test_value_without_key_aborts);
    return g_test_run();
}
