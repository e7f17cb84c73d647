/*
 * test_http1.c — the HTTP/1.1 front end (rpc/http1.c): requests parsed whole, byte by byte and
 * pipelined; the kept headers; percent-decoding of the path; Content-Length and chunked bodies;
 * where parsing stops (pipeline_max, Connection: close, Upgrade) and what *consumed says then;
 * each limit and malformed input with its status; and responses compared byte for byte.
 * The ASan build checks that queued and half-parsed requests are freed.
 */
#include <criterion/criterion.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/http1.h"

#define BODY_BYTES_MAX 1024u
#define MSG_BYTES      256u

static struct http1_conn *conn_with(size_t header_bytes_max, size_t body_bytes_max,
                                    uint32_t pipeline_max)
{
    struct http1_limits limits = {
        .header_bytes_max = header_bytes_max,
        .body_bytes_max = body_bytes_max,
        .pipeline_max = pipeline_max,
    };
    struct http1_conn *c = http1_conn_new(&limits);
    cr_assert_not_null(c);
    return c;
}

static struct http1_conn *conn_default(void)
{
    return conn_with(0, BODY_BYTES_MAX, 0);
}

/* Feeds `len` bytes of `text`, expecting them all taken. */
static void feed_all_n(struct http1_conn *c, const char *text, size_t len)
{
    size_t consumed = 12345;
    char msg[MSG_BYTES] = "";
    int rc = http1_feed(c, (const uint8_t *)text, len, &consumed, msg, sizeof msg);
    cr_assert_eq(rc, 0, "feed failed with %d: %s", rc, msg);
    cr_assert_eq(consumed, len, "consumed %zu of %zu", consumed, len);
}

static void feed_all(struct http1_conn *c, const char *text)
{
    feed_all_n(c, text, strlen(text));
}

/* Feeds `text` and returns how many bytes were taken, expecting success. */
static size_t feed_some(struct http1_conn *c, const char *text, size_t len)
{
    size_t consumed = 12345;
    char msg[MSG_BYTES] = "";
    int rc = http1_feed(c, (const uint8_t *)text, len, &consumed, msg, sizeof msg);
    cr_assert_eq(rc, 0, "feed failed with %d: %s", rc, msg);
    cr_assert_leq(consumed, len);
    return consumed;
}

/* Feeds `text` to `c`, expecting `status` with `want` in the message. */
static void feed_fails_on(struct http1_conn *c, const char *text, size_t len, int status,
                          const char *want)
{
    size_t consumed = 0;
    char msg[MSG_BYTES] = "";
    int rc = http1_feed(c, (const uint8_t *)text, len, &consumed, msg, sizeof msg);
    cr_assert_eq(rc, status, "expected %d, got %d (%s)", status, rc, msg);
    cr_assert_leq(consumed, len);
    cr_assert(strstr(msg, want) != NULL, "message \"%s\" lacks \"%s\"", msg, want);
    cr_assert_eq(http1_pending(c), 0);
}

static void feed_fails(size_t header_bytes_max, size_t body_bytes_max, const char *text, int status,
                       const char *want)
{
    struct http1_conn *c = conn_with(header_bytes_max, body_bytes_max, 0);
    feed_fails_on(c, text, strlen(text), status, want);
    http1_conn_free(c);
}

/* Takes the next request, expecting it there with this method and target. */
static struct http_request *next_is(struct http1_conn *c, int method, const char *target)
{
    struct http_request *r = http1_next(c);
    cr_assert_not_null(r, "no request waiting for %s", target);
    cr_assert_eq(r->method, method, "method %d", r->method);
    cr_assert_str_eq(r->target, target);
    return r;
}

static void expect_bytes(const struct http1_out *o, const char *want)
{
    size_t len = strlen(want);
    cr_assert_eq(o->len, len, "length %zu, want %zu:\n%.*s", o->len, len, (int)o->len,
                 (const char *)o->data);
    cr_assert(memcmp(o->data, want, len) == 0, "got:\n%.*s\nwant:\n%s", (int)o->len,
              (const char *)o->data, want);
}

/* --- requests --- */

Test(http1, simple_get_parses_method_path_query_and_keep_alive)
{
    struct http1_conn *c = conn_default();
    feed_all(c, "GET /v1/users?id=eq.5&select=name HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(http1_pending(c), 1);
    struct http_request *r = next_is(c, HTTP_GET, "/v1/users?id=eq.5&select=name");
    cr_assert_str_eq(r->path, "/v1/users");
    cr_assert_str_eq(r->query, "id=eq.5&select=name");
    cr_assert(r->keep_alive);
    cr_assert_eq(r->http_major, 1);
    cr_assert_eq(r->http_minor, 1);
    cr_assert_null(r->body);
    cr_assert_eq(r->body_len, 0);
    cr_assert_null(r->content_type);
    cr_assert_null(r->connection);
    cr_assert_null(http1_next(c));
    cr_assert_eq(http1_pending(c), 0);
    http_request_free(r);
    http1_conn_free(c);
}

Test(http1, target_without_question_mark_has_null_query_and_empty_query_is_empty)
{
    struct http1_conn *c = conn_default();
    feed_all(c, "GET /a HTTP/1.1\r\n\r\nGET /b? HTTP/1.1\r\n\r\n");
    struct http_request *r = next_is(c, HTTP_GET, "/a");
    cr_assert_null(r->query);
    http_request_free(r);
    r = next_is(c, HTTP_GET, "/b?");
    cr_assert_str_eq(r->path, "/b");
    cr_assert_str_eq(r->query, "");
    http_request_free(r);
    http1_conn_free(c);
}

Test(http1, path_is_percent_decoded_and_query_left_raw)
{
    struct http1_conn *c = conn_default();
    feed_all(c, "GET /v1/my%20table/%C3%a9t%2F?name=a%20b HTTP/1.1\r\n\r\n");
    struct http_request *r = next_is(c, HTTP_GET, "/v1/my%20table/%C3%a9t%2F?name=a%20b");
    cr_assert_str_eq(r->path, "/v1/my table/\xc3\xa9t/");
    cr_assert_str_eq(r->query, "name=a%20b");
    http_request_free(r);
    http1_conn_free(c);
}

Test(http1, post_body_is_read_by_content_length)
{
    struct http1_conn *c = conn_default();
    feed_all(c, "POST /v1/sql HTTP/1.1\r\nContent-Type: application/json\r\n"
                "Content-Length: 13\r\n\r\n{\"sql\":\"x\"}\r\n");
    struct http_request *r = next_is(c, HTTP_POST, "/v1/sql");
    cr_assert_str_eq(r->content_type, "application/json");
    cr_assert_eq(r->body_len, 13);
    cr_assert_not_null(r->body);
    cr_assert(memcmp(r->body, "{\"sql\":\"x\"}\r\n", 13) == 0);
    cr_assert_eq(r->body[13], '\0', "the body is NUL-terminated");
    http_request_free(r);
    http1_conn_free(c);
}

Test(http1, chunked_post_body_is_joined)
{
    struct http1_conn *c = conn_default();
    feed_all(c, "POST /v1/rpc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
                "GET /next HTTP/1.1\r\n\r\n");
    struct http_request *r = next_is(c, HTTP_POST, "/v1/rpc");
    cr_assert_eq(r->body_len, 11);
    cr_assert_str_eq((const char *)r->body, "hello world");
    cr_assert(r->keep_alive);
    http_request_free(r);
    r = next_is(c, HTTP_GET, "/next");
    http_request_free(r);
    http1_conn_free(c);
}

Test(http1, request_fed_one_byte_at_a_time_is_parsed)
{
    const char *text =
        "PUT /v1/t%41ble?x=1 HTTP/1.1\r\nAuthorization: Bearer abc.def\r\n"
        "Prefer: return=representation\r\nContent-Length: 5\r\n\r\nhello"
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    struct http1_conn *c = conn_with(0, BODY_BYTES_MAX, 0);
    for (size_t i = 0; text[i] != '\0'; i++) {
        feed_all_n(c, text + i, 1);
    }
    cr_assert_eq(http1_pending(c), 2);
    struct http_request *r = next_is(c, HTTP_PUT, "/v1/t%41ble?x=1");
    cr_assert_str_eq(r->path, "/v1/tAble");
    cr_assert_str_eq(r->query, "x=1");
    cr_assert_str_eq(r->authorization, "Bearer abc.def");
    cr_assert_str_eq(r->prefer, "return=representation");
    cr_assert_str_eq((const char *)r->body, "hello");
    http_request_free(r);
    r = next_is(c, HTTP_POST, "/c");
    cr_assert_str_eq((const char *)r->body, "abc");
    http_request_free(r);
    http1_conn_free(c);
}

Test(http1, three_pipelined_requests_come_out_in_order)
{
    struct http1_conn *c = conn_default();
    feed_all(c, "GET /one HTTP/1.1\r\n\r\n"
                "POST /two HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                "DELETE /three HTTP/1.1\r\n\r\n");
    cr_assert_eq(http1_pending(c), 3);
    struct http_request *r = next_is(c, HTTP_GET, "/one");
    http_request_free(r);
    r = next_is(c, HTTP_POST, "/two");
    cr_assert_str_eq((const char *)r->body, "abc");
    http_request_free(r);
    r = next_is(c, HTTP_DELETE, "/three");
    http_request_free(r);
    cr_assert_null(http1_next(c));
    http1_conn_free(c);
}

Test(http1, pipeline_max_stops_then_resumes_with_the_rest_fed_again)
{
    const char *first = "GET /1 HTTP/1.1\r\n\r\n";
    const char *second = "GET /2 HTTP/1.1\r\n\r\n";
    char text[256];
    snprintf(text, sizeof text, "%s%sGET /3 HTTP/1.1\r\n\r\nGET /4 HTTP/1.1\r\n\r\n", first,
             second);
    size_t len = strlen(text);
    struct http1_conn *c = conn_with(0, BODY_BYTES_MAX, 2);

    size_t taken = feed_some(c, text, len);
    cr_assert_eq(taken, strlen(first) + strlen(second), "stops after the second request");
    cr_assert_eq(http1_pending(c), 2);
    cr_assert_eq(feed_some(c, text + taken, len - taken), 0, "full: nothing is taken");

    http_request_free(next_is(c, HTTP_GET, "/1"));
    size_t more = feed_some(c, text + taken, len - taken);
    cr_assert_eq(more, strlen("GET /3 HTTP/1.1\r\n\r\n"));
    taken += more;
    http_request_free(next_is(c, HTTP_GET, "/2"));
    http_request_free(next_is(c, HTTP_GET, "/3"));
    feed_all_n(c, text + taken, len - taken);
    http_request_free(next_is(c, HTTP_GET, "/4"));
    cr_assert_eq(http1_pending(c), 0);
    http1_conn_free(c);
}

Test(http1, connection_close_stops_parsing_and_reports_consumed)
{
    const char *first = "GET /bye HTTP/1.1\r\nConnection: close\r\n\r\n";
    char text[256];
    snprintf(text, sizeof text, "%sGET /never HTTP/1.1\r\n\r\n", first);
    struct http1_conn *c = conn_default();
    size_t taken = feed_some(c, text, strlen(text));
    cr_assert_eq(taken, strlen(first));
    cr_assert_eq(http1_pending(c), 1);
    struct http_request *r = next_is(c, HTTP_GET, "/bye");
    cr_assert_not(r->keep_alive);
    cr_assert_str_eq(r->connection, "close");
    http_request_free(r);
    cr_assert_eq(feed_some(c, text + taken, strlen(text + taken)), 0, "nothing more is taken");
    cr_assert_null(http1_next(c));
    http1_conn_free(c);
}

Test(http1, upgrade_h2c_reports_consumed_at_the_end_of_the_request)
{
    const char *request =
        "GET /v1/h2 HTTP/1.1\r\nHost: db\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04";
    char text[512];
    size_t request_len = strlen(request);
    memcpy(text, request, request_len);
    memcpy(text + request_len, preface, sizeof preface - 1);
    size_t len = request_len + sizeof preface - 1;

    struct http1_conn *c = conn_default();
    cr_assert_eq(feed_some(c, text, len), request_len);
    struct http_request *r = next_is(c, HTTP_GET, "/v1/h2");
    cr_assert_str_eq(r->upgrade, "h2c");
    cr_assert_str_eq(r->http2_settings, "AAMAAABkAARAAAAAAAIAAAAA");
    cr_assert_str_eq(r->connection, "Upgrade, HTTP2-Settings");
    http_request_free(r);
    cr_assert_eq(feed_some(c, text + request_len, len - request_len), 0);
    http1_conn_free(c);
}

Test(http1, upgrade_header_without_connection_upgrade_does_not_stop_parsing)
{
    struct http1_conn *c = conn_default();
    feed_all(c, "GET /a HTTP/1.1\r\nUpgrade: h2c\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    struct http_request *r = next_is(c, HTTP_GET, "/a");
    cr_assert_str_eq(r->upgrade, "h2c", "kept as a string all the same");
    http_request_free(r);
    http_request_free(next_is(c, HTTP_GET, "/b"));
    http1_conn_free(c);
}

Test(http1, chunked_trailer_too_large_is_431)
{
    char text[4096];
    int n = snprintf(text, sizeof text,
                     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "1\r\na\r\n0\r\nX-Trailer: %0*d\r\n\r\n",
                     2000, 0);
    cr_assert_lt((size_t)n, sizeof text);
    feed_fails(1024, BODY_BYTES_MAX, text, 431, "trailer");
}

Test(http1, kept_headers_match_any_case_and_the_first_of_a_repeat_wins)
{
    struct http1_conn *c = conn_default();
    feed_all(c, "GET / HTTP/1.1\r\nACCEPT: text/csv  \r\norigin: https://a.example\r\n"
                "X-Long-Header-Name-Not-Kept: v\r\nAccept: application/json\r\n"
                "Content-type:\ttext/plain\r\nPrefer:\r\n\r\n");
    struct http_request *r = next_is(c, HTTP_GET, "/");
    cr_assert_str_eq(r->accept, "text/csv", "first value, trailing spaces trimmed");
    cr_assert_str_eq(r->origin, "https://a.example");
    cr_assert_str_eq(r->content_type, "text/plain");
    cr_assert_str_eq(r->prefer, "", "an empty value is kept as \"\"");
    cr_assert_null(r->authorization);
    cr_assert_null(r->upgrade);
    cr_assert_null(r->http2_settings);
    http_request_free(r);
    http1_conn_free(c);
}

Test(http1, http10_without_keep_alive_is_not_kept_alive)
{
    struct http1_conn *c = conn_default();
    const char *text = "GET /old HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n";
    cr_assert_eq(feed_some(c, text, strlen(text)), strlen("GET /old HTTP/1.0\r\n\r\n"));
    struct http_request *r = next_is(c, HTTP_GET, "/old");
    cr_assert_not(r->keep_alive);
    cr_assert_eq(r->http_major, 1);
    cr_assert_eq(r->http_minor, 0);
    http_request_free(r);
    http1_conn_free(c);
}

Test(http1, http10_with_keep_alive_is_kept_alive)
{
    struct http1_conn *c = conn_default();
    feed_all(c, "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /two HTTP/1.0\r\n\r\n");
    struct http_request *r = next_is(c, HTTP_GET, "/old");
    cr_assert(r->keep_alive);
    http_request_free(r);
    r = next_is(c, HTTP_GET, "/two");
    cr_assert_not(r->keep_alive);
    http_request_free(r);
    http1_conn_free(c);
}

Test(http1, conn_free_frees_queued_and_half_parsed_requests)
{
    struct http1_conn *c = conn_default();
    feed_all(c, "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
                "GET /b HTTP/1.1\r\nAccept: x\r\n\r\n"
                "POST /c HTTP/1.1\r\nContent-Type: y\r\nContent-Length: 10\r\n\r\nhalf");
    cr_assert_eq(http1_pending(c), 2);
    http1_conn_free(c);
    http_request_free(NULL);
    http1_conn_free(NULL);
}

/* --- limits and malformed input --- */

Test(http1, header_block_too_large_is_431)
{
    char text[4096];
    int n = snprintf(text, sizeof text, "GET / HTTP/1.1\r\nX-Big: %0*d\r\n\r\n", 2000, 0);
    cr_assert_lt((size_t)n, sizeof text);
    feed_fails(1024, BODY_BYTES_MAX, text, 431, "1024");
}

Test(http1, header_limit_counts_request_line_and_headers_exactly)
{
    const char *head = "GET /x HTTP/1.1\r\nHost: db\r\nAccept: */*\r\n\r\n";
    size_t head_len = strlen(head);
    /* Exactly at the limit passes, whole or byte by byte. */
    struct http1_conn *c = conn_with(head_len, BODY_BYTES_MAX, 0);
    feed_all(c, head);
    http_request_free(next_is(c, HTTP_GET, "/x"));
    for (size_t i = 0; i < head_len; i++) {
        feed_all_n(c, head + i, 1);
    }
    http_request_free(next_is(c, HTTP_GET, "/x"));
    http1_conn_free(c);
    /* One byte under it fails, also when only the final CRLF crosses it. */
    feed_fails(head_len - 1, BODY_BYTES_MAX, head, 431, "exceed");
    c = conn_with(head_len - 1, BODY_BYTES_MAX, 0);
    for (size_t i = 0; i + 1 < head_len; i++) {
        feed_all_n(c, head + i, 1);
    }
    feed_fails_on(c, head + head_len - 1, 1, 431, "exceed");
    http1_conn_free(c);
}

Test(http1, header_limit_above_http_parser_default_is_honoured)
{
    size_t value_len = 100 * 1024; /* http-parser's own default limit is 80 KiB */
    size_t cap = value_len + 128;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    int n = snprintf(text, cap, "GET / HTTP/1.1\r\nAuthorization: %0*d\r\n\r\n", (int)value_len, 0);
    cr_assert_lt((size_t)n, cap);
    struct http1_conn *c = conn_with(256 * 1024, BODY_BYTES_MAX, 0);
    feed_all(c, text);
    struct http_request *r = next_is(c, HTTP_GET, "/");
    cr_assert_eq(strlen(r->authorization), value_len);
    http_request_free(r);
    http1_conn_free(c);
    free(text);
}

Test(http1, content_length_over_the_limit_is_413)
{
    feed_fails(0, 10, "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413, "exceeds 10 bytes");
    struct http1_conn *c = conn_with(0, 10, 0);
    feed_all(c, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
    struct http_request *r = next_is(c, HTTP_POST, "/");
    cr_assert_eq(r->body_len, 10);
    http_request_free(r);
    http1_conn_free(c);
}

Test(http1, chunked_body_over_the_limit_is_413)
{
    feed_fails(0, 10,
               "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               "6\r\n012345\r\n5\r\n6789a\r\n0\r\n\r\n",
               413, "exceeds 10 bytes");
}

Test(http1, malformed_request_line_is_400)
{
    feed_fails(0, BODY_BYTES_MAX, "GET /x XTTP/1.1\r\n\r\n", 400, "malformed request");
    feed_fails(0, BODY_BYTES_MAX, "get /x HTTP/1.1\r\n\r\n", 400, "invalid HTTP method");
    feed_fails(0, BODY_BYTES_MAX, "GET /a b HTTP/1.1\r\n\r\n", 400, "malformed request");
}

Test(http1, an_error_is_sticky)
{
    struct http1_conn *c = conn_default();
    const char *bad = "BREW /pot HTTP/1.1\r\n\r\n";
    feed_fails_on(c, bad, strlen(bad), 400, "malformed");
    size_t consumed = 99;
    char msg[MSG_BYTES] = "";
    const char *good = "GET / HTTP/1.1\r\n\r\n";
    int rc = http1_feed(c, (const uint8_t *)good, strlen(good), &consumed, msg, sizeof msg);
    cr_assert_eq(rc, 400);
    cr_assert_eq(consumed, 0);
    cr_assert(strstr(msg, "malformed") != NULL);
    http1_conn_free(c);
}

Test(http1, bad_percent_escape_is_400)
{
    feed_fails(0, BODY_BYTES_MAX, "GET /a%zz HTTP/1.1\r\n\r\n", 400, "percent");
    feed_fails(0, BODY_BYTES_MAX, "GET /a%4 HTTP/1.1\r\n\r\n", 400, "percent");
    feed_fails(0, BODY_BYTES_MAX, "GET /a% HTTP/1.1\r\n\r\n", 400, "percent");
}

Test(http1, percent_escape_decoding_to_nul_is_400)
{
    feed_fails(0, BODY_BYTES_MAX, "GET /a%00b HTTP/1.1\r\n\r\n", 400, "percent");
}

Test(http1, url_too_long_is_414)
{
    size_t cap = HTTP1_URL_BYTES_MAX + 64;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    int n = snprintf(text, cap, "GET /%0*d HTTP/1.1\r\n\r\n", (int)HTTP1_URL_BYTES_MAX, 0);
    cr_assert_lt((size_t)n, cap);
    feed_fails(HTTP1_HEADER_BYTES_MAX, BODY_BYTES_MAX, text, 414, "request target");
    /* The longest target allowed passes. */
    n = snprintf(text, cap, "GET /%0*d HTTP/1.1\r\n\r\n", (int)HTTP1_URL_BYTES_MAX - 1, 0);
    struct http1_conn *c = conn_default();
    feed_all(c, text);
    struct http_request *r = http1_next(c);
    cr_assert_not_null(r);
    cr_assert_eq(strlen(r->target), HTTP1_URL_BYTES_MAX);
    http_request_free(r);
    http1_conn_free(c);
    free(text);
}

/* --- responses --- */

Test(http1, respond_200_with_a_body_gives_exact_bytes)
{
    struct http1_out o = {0};
    const char *body = "[{\"id\":1}]";
    cr_assert_eq(http1_respond(&o, 200, "application/json", NULL, body, strlen(body), true), 0);
    expect_bytes(&o, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: 10\r\n\r\n[{\"id\":1}]");
    http1_out_free(&o);
    cr_assert_null(o.data);
    cr_assert_eq(o.len, 0);
}

Test(http1, respond_404_closing_with_an_extra_header_gives_exact_bytes)
{
    struct http1_out o = {0};
    const char *body = "{\"message\":\"no such table\"}";
    int rc = http1_respond(&o, 404, "application/json", "Access-Control-Allow-Origin: *\r\n", body,
                           strlen(body), false);
    cr_assert_eq(rc, 0);
    expect_bytes(&o, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                     "Content-Length: 27\r\nConnection: close\r\n"
                     "Access-Control-Allow-Origin: *\r\n\r\n{\"message\":\"no such table\"}");
    http1_out_free(&o);
}

Test(http1, respond_appends_responses_and_grows_the_buffer)
{
    struct http1_out o = {0};
    size_t big_len = 100000;
    char *big = malloc(big_len);
    cr_assert_not_null(big);
    memset(big, 'x', big_len);
    cr_assert_eq(http1_respond(&o, 201, NULL, NULL, NULL, 0, true), 0);
    size_t first_len = o.len;
    cr_assert_eq(http1_respond(&o, 200, "text/plain", NULL, big, big_len, true), 0);
    const char *head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n";
    cr_assert_eq(o.len, first_len + strlen(head) + big_len);
    cr_assert(memcmp(o.data, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", first_len) == 0);
    cr_assert(memcmp(o.data + first_len, head, strlen(head)) == 0);
    cr_assert(memcmp(o.data + first_len + strlen(head), big, big_len) == 0);
    cr_assert_geq(o.cap, o.len);
    free(big);
    http1_out_free(&o);
}

Test(http1, respond_101_and_204_carry_no_content_length)
{
    struct http1_out o = {0};
    cr_assert_eq(
        http1_respond(&o, 101, NULL, "Connection: Upgrade\r\nUpgrade: h2c\r\n", NULL, 0, true), 0);
    expect_bytes(&o, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                     "Upgrade: h2c\r\n\r\n");
    o.len = 0;
    cr_assert_eq(http1_respond(&o, 204, NULL, NULL, NULL, 0, true), 0);
    expect_bytes(&o, "HTTP/1.1 204 No Content\r\n\r\n");
    http1_out_free(&o);
}

Test(http1, reason_phrases_are_the_standard_ones)
{
    cr_assert_str_eq(http1_reason(200), "OK");
    cr_assert_str_eq(http1_reason(404), "Not Found");
    cr_assert_str_eq(http1_reason(413), "Content Too Large");
    cr_assert_str_eq(http1_reason(414), "URI Too Long");
    cr_assert_str_eq(http1_reason(431), "Request Header Fields Too Large");
    cr_assert_str_eq(http1_reason(505), "HTTP Version Not Supported");
    cr_assert_str_eq(http1_reason(299), "Unknown");
    const int known[] = {100, 101, 200, 201, 204, 206, 301, 302, 304, 400, 401,
                         403, 404, 405, 406, 408, 409, 411, 412, 413, 414, 415,
                         422, 429, 431, 500, 501, 502, 503, 504, 505};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        cr_assert_str_neq(http1_reason(known[i]), "Unknown", "%d", known[i]);
    }
}
