/* basic_english tokens -> ids in C: the hot loop of expkit.text.encode.
 *
 * Tokens are those of expkit.text.tokenizer.basic_english + ngrams (torchtext 0.18's
 * "basic_english" and ngrams_iterator), the pure-Python reference the tests compare this with:
 *   lower-case with Python's own str.lower, delete '"', replace "<br />" by a space, split on
 *   Python's whitespace (Py_UNICODE_ISSPACE, which str.split() uses) and on ';' ':', and make each
 *   of ' . , ( ) ! ? a token of its own.
 * That is torchtext's regex table in its order: '"' is deleted before "<br />" is replaced (so
 * '<b"r />' is a line break too); the other rules only put spaces around characters that
 * "<br />" does not contain, so they can neither create nor break one.
 *
 * Text is handled as UTF-8 (lone surrogates, which str may hold, as "surrogatepass"): all the
 * rules' characters are ASCII, and UTF-8 never uses ASCII bytes inside a multi-byte character.
 *
 * Encoder(tokens, ngrams): a token table with the ids 0..len(tokens)-1 for `tokens`, each token
 * stored once as UTF-8 in one buffer (the arena) and found by a 64-bit hash with open addressing.
 * Equal hashes are always confirmed byte by byte, so a collision costs a probe, never a wrong id.
 *   encode(texts, unknown, grow) -> (ids: bytes, lengths: bytes), both native int64: every text's
 *     tokens, then its 2-grams, ..., n-grams (tokens joined by one space). A token not in the table
 *     gets the next id (and is added) when `grow`; otherwise the id `unknown`, or nothing when
 *     `unknown` < 0. lengths[i] is the number of ids of text i.
 *   tokens(start=0) -> list[str]: the table's tokens from id `start` on, in id order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ---- growable buffers ---------------------------------------------------------------------- */

static int reserve(void **data, size_t *cap, size_t need, size_t item) {
    if (need <= *cap) return 0;
    if (need > SIZE_MAX / 2 / item) {
        PyErr_NoMemory();
        return -1;
    }
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    void *p = PyMem_Realloc(*data, n * item);
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    *data = p;
    *cap = n;
    return 0;
}

typedef struct {
    int64_t *data;
    size_t len, cap;
} I64Buf;

static inline int i64_push(I64Buf *b, int64_t v) {
    if (b->len == b->cap && reserve((void **)&b->data, &b->cap, b->len + 1, sizeof(int64_t)) < 0) return -1;
    b->data[b->len++] = v;
    return 0;
}

/* ---- the token table ----------------------------------------------------------------------- */

/* The table's slots are uint64: 0 = empty, else the hash's high 24 bits << 40 | (record offset + 1).
 * A record in the arena: uint32 id, uint32 byte length, then the token's UTF-8 bytes; records are
 * in id order. A probe reads one slot and, when the tag matches, one record. */
#define TAG(h) ((h) & 0xffffff0000000000ULL)
#define SLOT_OFFSET(s) (((s) & 0xffffffffffULL) - 1)
#define MAX_ARENA 0xfffffffffeULL
#define RECORD_HEADER 8

typedef struct {
    PyObject_HEAD
    int ngrams;
    uint64_t seed;
    uint64_t *slots;
    size_t slot_mask;
    size_t count; /* tokens; their ids are 0..count-1 */
    char *arena;
    size_t arena_len, arena_cap;
} Encoder;

static inline uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static inline uint64_t hash_bytes(uint64_t seed, const char *p, size_t n) {
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    return mix(h ^ w);
}

static inline uint32_t record_id(const char *record) {
    uint32_t id;
    memcpy(&id, record, sizeof(id));
    return id;
}

static inline uint32_t record_length(const char *record) {
    uint32_t n;
    memcpy(&n, record + 4, sizeof(n));
    return n;
}

/* Id of the token, or -1 when absent (then *slot is where it would go). */
static inline int64_t table_find(const Encoder *e, uint64_t h, const char *p, size_t n, size_t *slot) {
    size_t i = (size_t)h & e->slot_mask;
    for (;;) {
        uint64_t s = e->slots[i];
        if (s == 0) {
            *slot = i;
            return -1;
        }
        if (TAG(s) == TAG(h)) {
            const char *record = e->arena + SLOT_OFFSET(s);
            if (record_length(record) == n && memcmp(record + RECORD_HEADER, p, n) == 0) return record_id(record);
        }
        i = (i + 1) & e->slot_mask;
    }
}

static int table_resize(Encoder *e, size_t nslots) {
    uint64_t *slots = PyMem_Calloc(nslots, sizeof(uint64_t));
    if (!slots) {
        PyErr_NoMemory();
        return -1;
    }
    size_t mask = nslots - 1;
    for (size_t offset = 0; offset < e->arena_len;) {
        size_t n = record_length(e->arena + offset);
        uint64_t h = hash_bytes(e->seed, e->arena + offset + RECORD_HEADER, n);
        size_t i = (size_t)h & mask;
        while (slots[i]) i = (i + 1) & mask;
        slots[i] = TAG(h) | (uint64_t)(offset + 1);
        offset += RECORD_HEADER + n;
    }
    PyMem_Free(e->slots);
    e->slots = slots;
    e->slot_mask = mask;
    return 0;
}

/* Add a token that table_find did not find at `slot`; returns its id, -1 on error. */
static int64_t table_add(Encoder *e, uint64_t h, const char *p, size_t n, size_t slot) {
    /* Grow first, so the table is never more than half full even when growing fails. */
    if ((e->count + 1) * 2 > e->slot_mask + 1) {
        if (table_resize(e, (e->slot_mask + 1) * 2) < 0) return -1;
        slot = (size_t)h & e->slot_mask; /* the token is absent: its slot is the first empty one */
        while (e->slots[slot]) slot = (slot + 1) & e->slot_mask;
    }
    if (e->count >= 0xffffffffULL) {
        PyErr_SetString(PyExc_OverflowError, "more than 2**32 - 1 distinct tokens");
        return -1;
    }
    if (n > 0xffffffffULL || e->arena_len + RECORD_HEADER + n > MAX_ARENA) {
        PyErr_SetString(PyExc_OverflowError, "the tokens take more than 1 TiB");
        return -1;
    }
    if (reserve((void **)&e->arena, &e->arena_cap, e->arena_len + RECORD_HEADER + n, 1) < 0) return -1;
    uint32_t header[2] = {(uint32_t)e->count, (uint32_t)n};
    char *record = e->arena + e->arena_len;
    memcpy(record, header, RECORD_HEADER);
    memcpy(record + RECORD_HEADER, p, n);
    e->slots[slot] = TAG(h) | (uint64_t)(e->arena_len + 1);
    e->arena_len += RECORD_HEADER + n;
    return (int64_t)e->count++;
}

/* ---- tokenizing -------------------------------------------------------------------------- */

/* One n-gram of a text: its bytes in Scratch.norm and its hash. */
typedef struct {
    const char *p;
    size_t n;
    uint64_t h;
} Gram;

/* Scratch space reused across texts. */
typedef struct {
    char *chars; /* the lower-cased text, '"' deleted */
    size_t chars_cap;
    char *norm; /* its tokens, each followed by one ' ': an n-gram is a contiguous span */
    size_t norm_len, norm_cap;
    size_t *starts; /* token t is norm[starts[t] : starts[t + 1] - 1] */
    size_t ntok, starts_cap;
    Gram *grams;
    size_t grams_cap;
} Scratch;

static void scratch_free(Scratch *s) {
    PyMem_Free(s->chars);
    PyMem_Free(s->norm);
    PyMem_Free(s->starts);
    PyMem_Free(s->grams);
}

/* Append chars[start : start + len] to norm as the next token. norm has room (see tokenize). */
static inline int add_token(Scratch *s, const char *chars, size_t start, size_t len) {
    if (s->ntok + 1 >= s->starts_cap && reserve((void **)&s->starts, &s->starts_cap, s->ntok + 2, sizeof(size_t)) < 0)
        return -1;
    s->starts[s->ntok++] = s->norm_len;
    memcpy(s->norm + s->norm_len, chars + start, len);
    s->norm_len += len;
    s->norm[s->norm_len++] = ' ';
    s->starts[s->ntok] = s->norm_len;
    return 0;
}

static inline int is_single_token(unsigned char c) {
    return c == '\'' || c == '.' || c == ',' || c == '(' || c == ')' || c == '!' || c == '?';
}

static const char LINE_BREAK[6] = {'<', 'b', 'r', ' ', '/', '>'};

/* The lower-cased text as UTF-8 in s->chars with every '"' deleted; returns its length or -1. */
static Py_ssize_t lower_utf8(PyObject *text, Scratch *s) {
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) return -1;
#endif
    /* str.lower of ASCII maps A-Z and nothing else; a subclass may override lower(), so call it. */
    if (PyUnicode_CheckExact(text) && PyUnicode_IS_ASCII(text)) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(text);
        const unsigned char *src = PyUnicode_1BYTE_DATA(text);
        if (reserve((void **)&s->chars, &s->chars_cap, (size_t)n, 1) < 0) return -1;
        Py_ssize_t m = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            unsigned char c = src[i];
            if (c == '"') continue;
            s->chars[m++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        }
        return m;
    }
    PyObject *lower = PyObject_CallMethod(text, "lower", NULL);
    if (!lower) return -1;
    PyObject *encoded = PyUnicode_AsEncodedString(lower, "utf-8", "surrogatepass");
    Py_DECREF(lower);
    if (!encoded) return -1;
    Py_ssize_t n = PyBytes_GET_SIZE(encoded);
    const char *src = PyBytes_AS_STRING(encoded);
    Py_ssize_t m = -1;
    if (reserve((void **)&s->chars, &s->chars_cap, (size_t)n, 1) == 0) {
        m = 0;
        for (Py_ssize_t i = 0; i < n; i++)
            if (src[i] != '"') s->chars[m++] = src[i];
    }
    Py_DECREF(encoded);
    return m;
}

/* Fill s->chars and the token spans of `text`. */
static int tokenize(PyObject *text, Scratch *s) {
    Py_ssize_t signed_m = lower_utf8(text, s);
    if (signed_m < 0) return -1;
    size_t m = (size_t)signed_m;
    unsigned char *c = (unsigned char *)s->chars;
    /* "<br />" -> spaces, left to right; the pattern cannot overlap itself. */
    for (size_t i = 0; i + 6 <= m;) {
        if (c[i] == '<' && memcmp(c + i, LINE_BREAK, 6) == 0) {
            memset(c + i, ' ', 6);
            i += 6;
        } else {
            i++;
        }
    }
    /* norm holds at most 2 bytes per byte of text: a 1-byte token and its space */
    if (reserve((void **)&s->norm, &s->norm_cap, 2 * m + 1, 1) < 0) return -1;
    s->norm_len = 0;
    s->ntok = 0;
    size_t start = 0;
    int in_token = 0;
    for (size_t i = 0; i < m;) {
        unsigned char b = c[i];
        size_t width = 1;
        int separator;
        if (b < 0x80) {
            if (is_single_token(b)) {
                if (in_token && add_token(s, s->chars, start, i - start) < 0) return -1;
                if (add_token(s, s->chars, i, 1) < 0) return -1;
                in_token = 0;
                i++;
                continue;
            }
            separator = b == ';' || b == ':' || Py_UNICODE_ISSPACE(b);
        } else { /* well-formed UTF-8 (or surrogatepass): decode to test for Unicode whitespace */
            Py_UCS4 cp;
            if (b >= 0xf0) {
                width = 4;
                cp = (Py_UCS4)(b & 0x07);
            } else if (b >= 0xe0) {
                width = 3;
                cp = (Py_UCS4)(b & 0x0f);
            } else {
                width = 2;
                cp = (Py_UCS4)(b & 0x1f);
            }
            if (i + width > m) width = m - i; /* cannot happen for encoder output; stay in bounds */
            for (size_t k = 1; k < width; k++) cp = (cp << 6) | (Py_UCS4)(c[i + k] & 0x3f);
            separator = Py_UNICODE_ISSPACE(cp);
        }
        if (separator) {
            if (in_token && add_token(s, s->chars, start, i - start) < 0) return -1;
            in_token = 0;
        } else if (!in_token) {
            start = i;
            in_token = 1;
        }
        i += width;
    }
    if (in_token && add_token(s, s->chars, start, m - start) < 0) return -1;
    return 0;
}

/* ---- encoding ---------------------------------------------------------------------------- */

typedef struct {
    int64_t unknown;
    int grow;
} Mode;

/* Append the token's id to `ids` (or nothing); returns the number appended, -1 on error. */
static inline int emit(Encoder *e, const Mode *mode, const Gram *g, I64Buf *ids) {
    const char *p = g->p;
    size_t n = g->n;
    uint64_t h = g->h;
    size_t slot = 0;
    int64_t id = table_find(e, h, p, n, &slot);
    if (id < 0) {
        if (mode->grow) {
            id = table_add(e, h, p, n, slot);
            if (id < 0) return -1;
        } else if (mode->unknown >= 0) {
            id = mode->unknown;
        } else {
            return 0;
        }
    }
    return i64_push(ids, id) < 0 ? -1 : 1;
}

/* Lookups miss the cache on a large table; overlapping those misses is most of the speed. So the
 * slot of the n-gram PREFETCH_AHEAD places ahead is prefetched, and the arena record of the one
 * half as far ahead (its slot has arrived by then). */
#define PREFETCH_AHEAD 8
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif

static int check_ready(const Encoder *e) {
    if (!e->slots) {
        PyErr_SetString(PyExc_RuntimeError, "the Encoder is not initialized (its __init__ failed or never ran)");
        return -1;
    }
    return 0;
}

static int encode_text(Encoder *e, PyObject *text, const Mode *mode, Scratch *s, I64Buf *ids, int64_t *count) {
    if (tokenize(text, s) < 0) return -1;
    if (check_ready(e) < 0) return -1; /* a subclass's lower() re-entered this encoder and broke it */
    size_t ngrams = 0;
    for (int k = 1; k <= e->ngrams && (size_t)k <= s->ntok; k++) ngrams += s->ntok - (size_t)k + 1;
    if (reserve((void **)&s->grams, &s->grams_cap, ngrams, sizeof(Gram)) < 0) return -1;
    size_t g = 0;
    for (int k = 1; k <= e->ngrams && (size_t)k <= s->ntok; k++) {
        for (size_t t = 0; t + (size_t)k <= s->ntok; t++, g++) {
            Gram *gram = &s->grams[g];
            gram->p = s->norm + s->starts[t];
            gram->n = s->starts[t + (size_t)k] - s->starts[t] - 1; /* without the trailing space */
            gram->h = hash_bytes(e->seed, gram->p, gram->n);
            if (g < PREFETCH_AHEAD) PREFETCH(&e->slots[gram->h & e->slot_mask]);
        }
    }
    int64_t emitted = 0;
    for (g = 0; g < ngrams; g++) {
        if (g + PREFETCH_AHEAD < ngrams) PREFETCH(&e->slots[s->grams[g + PREFETCH_AHEAD].h & e->slot_mask]);
        if (g + PREFETCH_AHEAD / 2 < ngrams) {
            uint64_t slot = e->slots[s->grams[g + PREFETCH_AHEAD / 2].h & e->slot_mask];
            if (slot) PREFETCH(e->arena + SLOT_OFFSET(slot));
        }
        int r = emit(e, mode, &s->grams[g], ids);
        if (r < 0) return -1;
        emitted += r;
    }
    *count = emitted;
    return 0;
}

/* Forget the tokens added since the table had `count` tokens and `arena_len` bytes of records. */
static void table_truncate(Encoder *e, size_t count, size_t arena_len) {
    if (e->count == count) return;
    e->count = count;
    e->arena_len = arena_len;
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    if (table_resize(e, e->slot_mask + 1) < 0) { /* no memory to rebuild the slots: unusable */
        PyErr_Clear();
        PyMem_Free(e->slots);
        e->slots = NULL;
    }
    PyErr_Restore(type, value, traceback);
}

static PyObject *Encoder_encode(Encoder *e, PyObject *args) {
    PyObject *texts;
    long long unknown;
    int grow;
    if (!PyArg_ParseTuple(args, "OLp:encode", &texts, &unknown, &grow)) return NULL;
    if (check_ready(e) < 0) return NULL;
    if (!grow && unknown >= (long long)e->count) {
        PyErr_Format(PyExc_ValueError, "unknown id %lld is not a token id (the table has %zu tokens)", unknown,
                     e->count);
        return NULL;
    }
    /* A tuple of our own: a str subclass's lower() runs Python code, which could change a list. */
    PyObject *seq = PySequence_Tuple(texts);
    if (!seq) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *text = PyTuple_GET_ITEM(seq, i);
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "texts[%zd] must be str, not %.100s", i, Py_TYPE(text)->tp_name);
            Py_DECREF(seq);
            return NULL;
        }
    }
    Mode mode = {unknown, grow};
    Scratch s = {0};
    I64Buf ids = {0};
    size_t count_before = e->count, arena_before = e->arena_len;
    PyObject *result = NULL;
    PyObject *lengths = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    if (!lengths) goto done;
    int64_t *length_data = (int64_t *)PyBytes_AS_STRING(lengths);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (encode_text(e, PyTuple_GET_ITEM(seq, i), &mode, &s, &ids, &length_data[i]) < 0) goto done;
    }
    PyObject *id_bytes = PyBytes_FromStringAndSize((const char *)ids.data, (Py_ssize_t)(ids.len * sizeof(int64_t)));
    if (!id_bytes) goto done;
    result = PyTuple_Pack(2, id_bytes, lengths);
    Py_DECREF(id_bytes);
done:
    if (!result && e->slots) table_truncate(e, count_before, arena_before); /* all or nothing */
    Py_XDECREF(lengths);
    Py_DECREF(seq);
    PyMem_Free(ids.data);
    scratch_free(&s);
    return result;
}

static PyObject *Encoder_tokens(Encoder *e, PyObject *args) {
    Py_ssize_t start = 0;
    if (!PyArg_ParseTuple(args, "|n:tokens", &start)) return NULL;
    if (check_ready(e) < 0) return NULL;
    if (start < 0 || (size_t)start > e->count) {
        PyErr_Format(PyExc_ValueError, "start must be in [0, %zu], got %zd", e->count, start);
        return NULL;
    }
    PyObject *list = PyList_New((Py_ssize_t)(e->count - (size_t)start));
    if (!list) return NULL;
    size_t offset = 0;
    for (size_t id = 0; id < e->count; id++) { /* records are in id order */
        size_t n = record_length(e->arena + offset);
        if (id >= (size_t)start) {
            PyObject *token = PyUnicode_DecodeUTF8(e->arena + offset + RECORD_HEADER, (Py_ssize_t)n, "surrogatepass");
            if (!token) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, (Py_ssize_t)(id - (size_t)start), token);
        }
        offset += RECORD_HEADER + n;
    }
    return list;
}

static Py_ssize_t Encoder_len(Encoder *e) { return (Py_ssize_t)e->count; }

static int Encoder_init(Encoder *e, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"tokens", "ngrams", NULL};
    PyObject *tokens;
    int ngrams;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Oi:Encoder", names, &tokens, &ngrams)) return -1;
    if (ngrams < 1) {
        PyErr_Format(PyExc_ValueError, "ngrams must be >= 1, got %d", ngrams);
        return -1;
    }
    if (e->slots) {
        PyErr_SetString(PyExc_RuntimeError, "Encoder is already initialized");
        return -1;
    }
    e->seed = mix((uint64_t)(uintptr_t)e ^ 0x243f6a8885a308d3ULL);
    PyObject *seq = PySequence_Tuple(tokens);
    if (!seq) return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    size_t nslots = 1024;
    while (nslots < (size_t)n * 2 + 2) nslots *= 2;
    if (table_resize(e, nslots) < 0) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *token = PyTuple_GET_ITEM(seq, i);
        if (!PyUnicode_Check(token)) {
            PyErr_Format(PyExc_TypeError, "tokens[%zd] must be str, not %.100s", i, Py_TYPE(token)->tp_name);
            goto fail;
        }
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(token) < 0) goto fail;
#endif
        PyObject *encoded = NULL; /* ASCII is its own UTF-8 */
        const char *p;
        size_t len;
        if (PyUnicode_IS_ASCII(token)) {
            p = (const char *)PyUnicode_1BYTE_DATA(token);
            len = (size_t)PyUnicode_GET_LENGTH(token);
        } else {
            encoded = PyUnicode_AsEncodedString(token, "utf-8", "surrogatepass");
            if (!encoded) goto fail;
            p = PyBytes_AS_STRING(encoded);
            len = (size_t)PyBytes_GET_SIZE(encoded);
        }
        uint64_t h = hash_bytes(e->seed, p, len);
        size_t slot = 0;
        int64_t found = table_find(e, h, p, len, &slot);
        int64_t id = found >= 0 ? -1 : table_add(e, h, p, len, slot);
        Py_XDECREF(encoded);
        if (found >= 0) {
            PyErr_Format(PyExc_ValueError, "tokens[%zd] (%R) repeats tokens[%lld]", i, token, (long long)found);
            goto fail;
        }
        if (id < 0) goto fail;
    }
    Py_DECREF(seq);
    e->ngrams = ngrams; /* initialized: encode() and tokens() check e->slots */
    return 0;
fail: /* leave the object as uninitialized as it was */
    Py_DECREF(seq);
    PyMem_Free(e->slots);
    PyMem_Free(e->arena);
    e->slots = NULL;
    e->arena = NULL;
    e->slot_mask = e->count = e->arena_len = e->arena_cap = 0;
    return -1;
}

static void Encoder_dealloc(Encoder *e) {
    PyMem_Free(e->slots);
    PyMem_Free(e->arena);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

static PyObject *Encoder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    (void)args;
    (void)kwargs;
    return type->tp_alloc(type, 0); /* zero-filled */
}

static PyMethodDef Encoder_methods[] = {
    {"encode", (PyCFunction)Encoder_encode, METH_VARARGS,
     "encode(texts, unknown, grow) -> (ids, lengths): native int64 bytes of the texts' n-gram ids."},
    {"tokens", (PyCFunction)Encoder_tokens, METH_VARARGS, "tokens(start=0) -> the table's tokens from id start on."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Encoder_as_sequence = {.sq_length = (lenfunc)Encoder_len};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "expkit.text._basic_english.Encoder",
    .tp_doc = "Encoder(tokens, ngrams): basic_english n-grams -> ids of a token table (see the module source).",
    .tp_basicsize = sizeof(Encoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Encoder_new,
    .tp_init = (initproc)Encoder_init,
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_methods = Encoder_methods,
    .tp_as_sequence = &Encoder_as_sequence,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_basic_english",
    .m_doc = "basic_english tokens -> ids in C; expkit.text.encode uses it when it is built.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__basic_english(void) {
    if (PyType_Ready(&EncoderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&EncoderType);
    if (PyModule_AddObject(m, "Encoder", (PyObject *)&EncoderType) < 0) {
        Py_DECREF(&EncoderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
