/*
 * npl.c -- the npl feed: Läkemedelsverket's NPL product export.
 *
 * Declared in importers/feeds.h:
 *
 *   extern const struct import_feed import_feed_npl;
 *
 * Format (national feed).  SOURCE is one product document, a directory of
 * them, or the nightly ZIP whose members are Productdata/<nplid>.xml.  Each
 * document holds one medicinal product, its root element medprod in the
 * namespace urn:schemas-npl:instance:12 (fields in urn:schemas-npl:mpa:12):
 *
 *   medprod/nplid                          NPL-id, 14 digits      required
 *   medprod/names/medprodname@v            name, 1..300 bytes     required
 *   medprod/names/medprodnamelegal@v       legal name, ..1000     optional
 *   medprod/strength-text/v                "200 mg", ..200        optional
 *   medprod/pharmaceutical-form-lx@v       form code, "FICOTA"    optional
 *   medprod/organizations/organization     organization-lx@v of the one
 *                                          whose organization-role-lx@v
 *                                          is MAH                 optional
 *   medprod/classifications/atc-code-lx@v  ATC code of any level  optional
 *   medprod/flags/salesstopped@v           Y or N (absent: N)     optional
 *   medprod/packages/package               0..1000 of them:
 *     nplpackid                            NPL pack id, 14 digits required
 *     pack-text/v                          ..1000 bytes           optional
 *
 * Elements are matched by namespace URI and local name, never by prefix;
 * everything else in the document is skipped.  The first occurrence of a
 * field counts.  Element text is whitespace-normalised (runs of blanks and
 * line breaks become one space, the ends are trimmed).  ATC: the register
 * gives some products only a group (C07AB) or no code at all, so any
 * well-formed level is kept in npl_medprod.atc and only a malformed code is
 * a rejection; product.atc takes the full 7-character level only.
 *
 * What it writes (sql/005_medicine_register.sql): npl_medprod and
 * npl_package are upserted by NPL-id and NPL pack id.  Catalog products
 * whose npl_pack_id is a package in the import get the register's npl_id,
 * strength, form code and full-level ATC (a product keeps what it has where
 * the register says nothing).  Their name is left alone: medprodname is the
 * bare trade name ("Celectol"), while the product's name is what regions
 * order and count by, set by the articles feed or by hand.  No product is
 * created: the register has about 100,000 packages and products are what
 * regions stock -- the articles feed creates them.
 *
 * Design note.
 *   - Streaming: libxml2's xmlTextReader over xmlReaderForIO, fed by
 *     fread for files and by zip_fread (libzip, zip_fopen_index) for ZIP
 *     members, which are never unpacked to disk.  Memory is one product and
 *     its packages, whatever the size of the export.
 *   - Hostile input: no network, no DTD loading, no entity substitution
 *     (XML_PARSE_NONET only; never NOENT, DTDLOAD, DTDATTR, DTDVALID or
 *     HUGE); a document with a DOCTYPE is rejected as soon as the reader
 *     reaches it, so no entity it declares is ever referenced.  Field text
 *     is capped at NPL_TEXT_MAX bytes, a document at NPL_DOC_MAX bytes
 *     (counted while reading, not taken from the ZIP directory, which can
 *     lie), a ZIP at NPL_FILES_MAX members and NPL_ZIP_TOTAL_MAX bytes
 *     uncompressed, a product at NPL_PACKS_MAX packages.
 *   - A document that is not well-formed, or not an NPL product, is one
 *     rejection (field "xml", libxml2's line and reason) and contributes
 *     nothing: its product is staged only after the reader has reached the
 *     end of the document cleanly.  Other documents go on.
 *   - Lines: COPY feeds one table, so products and packages share one
 *     staging table with a kind column.  Their `line` is a running record
 *     number, unique across all documents as the frame requires; the line
 *     in the document (fline) and the member's name (file) are kept beside
 *     it for messages.  Rejections found here carry the element's own line
 *     (xmlGetLineNo of the node: xmlTextReaderGetParserLineNumber runs
 *     ahead of the node by up to a read chunk) and run->file.  The check
 *     step reports document lines too, with the file named in the reason
 *     (import_rejects has no file column), and marks what it rejects in the
 *     staging table's own bad column: its lines are record numbers, not
 *     document lines.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include <libxml/xmlreader.h>
#include <zip.h>

#include "feeds.h"
#include "import.h"
#include "validate.h"

#define NS_NPL "urn:schemas-npl:instance:12"
#define NS_MPA "urn:schemas-npl:mpa:12"

/* Longest field value kept; a longer one is a rejection. */
#define NPL_TEXT_MAX 1000
/* Packages of one product (real ones have a few dozen at most). */
#define NPL_PACKS_MAX 1000
/* One product document, uncompressed (real ones are a few kilobytes). */
#define NPL_DOC_MAX (16 * 1024 * 1024)
/* Members of a ZIP, files of a directory (the export has ~30,000). */
#define NPL_FILES_MAX 1000000
/* All members of a ZIP together, uncompressed. */
#define NPL_ZIP_TOTAL_MAX ((int64_t)8 * 1024 * 1024 * 1024)
/* Element nesting tracked; deeper elements are never fields. */
#define NPL_DEPTH_MAX 32
/* Deliberately not XML_PARSE_NOENT, _DTDLOAD, _DTDATTR, _DTDVALID, _HUGE,
 * _XINCLUDE. */
#define NPL_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_BIG_LINES)

/* The elements that matter, by where they sit. */
enum el {
	EL_OTHER,
	EL_TOP, /* the parent of the root element */
	EL_MEDPROD,
	EL_NPLID,
	EL_NAMES,
	EL_NAME,
	EL_NAME_LEGAL,
	EL_STRENGTH,
	EL_STRENGTH_V,
	EL_FORM,
	EL_ORGS,
	EL_ORG,
	EL_ORG_ID,
	EL_ORG_ROLE,
	EL_CLASSES,
	EL_ATC,
	EL_FLAGS,
	EL_SALESSTOPPED,
	EL_PACKAGES,
	EL_PACKAGE,
	EL_PACKID,
	EL_PACKTEXT,
	EL_PACKTEXT_V
};

static const struct {
	enum el parent;
	const char *ns;
	const char *name;
	enum el el;
} grammar[] = {
	{EL_TOP, NS_NPL, "medprod", EL_MEDPROD},
	{EL_MEDPROD, NS_MPA, "nplid", EL_NPLID},
	{EL_MEDPROD, NS_NPL, "names", EL_NAMES},
	{EL_NAMES, NS_MPA, "medprodname", EL_NAME},
	{EL_NAMES, NS_MPA, "medprodnamelegal", EL_NAME_LEGAL},
	{EL_MEDPROD, NS_MPA, "strength-text", EL_STRENGTH},
	{EL_STRENGTH, NS_MPA, "v", EL_STRENGTH_V},
	{EL_MEDPROD, NS_MPA, "pharmaceutical-form-lx", EL_FORM},
	{EL_MEDPROD, NS_NPL, "organizations", EL_ORGS},
	{EL_ORGS, NS_MPA, "organization", EL_ORG},
	{EL_ORG, NS_MPA, "organization-lx", EL_ORG_ID},
	{EL_ORG, NS_MPA, "organization-role-lx", EL_ORG_ROLE},
	{EL_MEDPROD, NS_NPL, "classifications", EL_CLASSES},
	{EL_CLASSES, NS_MPA, "atc-code-lx", EL_ATC},
	{EL_MEDPROD, NS_NPL, "flags", EL_FLAGS},
	{EL_FLAGS, NS_MPA, "salesstopped", EL_SALESSTOPPED},
	{EL_MEDPROD, NS_NPL, "packages", EL_PACKAGES},
	{EL_PACKAGES, NS_NPL, "package", EL_PACKAGE},
	{EL_PACKAGE, NS_MPA, "nplpackid", EL_PACKID},
	{EL_PACKAGE, NS_MPA, "pack-text", EL_PACKTEXT},
	{EL_PACKTEXT, NS_MPA, "v", EL_PACKTEXT_V},
};

/* One field's value as read: element text or a v attribute. */
struct field {
	char v[NPL_TEXT_MAX + 1];
	size_t len;
	int64_t line; /* of its element */
	bool seen;
	bool too_long;
	bool blank; /* a blank is pending: written before the next character */
};

struct pack {
	struct field id, text;
	int64_t line;
};

/* One document in progress.  No pointers: reset with memset. */
struct doc {
	int64_t root_line;
	bool complete; /* the medprod element has ended */
	struct field nplid, name, name_legal, strength, form, atc, stopped, mah;
	struct field org_id, org_role; /* of the current organization */
	bool packs_overflow;
	bool in_pack;	       /* inside a package that is kept */
	struct field *collect; /* the text field being read, or NULL */
	int collect_depth;
	enum el stack[NPL_DEPTH_MAX];
	/* a rejection of the document as a whole */
	bool failed;
	int64_t fail_line;
	char why[400];
	/* the first error libxml2 reported */
	int64_t xml_line;
	char xml_error[300];
};

/* The input of the current document. */
struct input {
	FILE *fp;
	zip_file_t *zf;
	int64_t bytes;
	bool too_big;
	bool read_error;
	char read_why[200];
};

/* One parse step. */
struct npl {
	struct import_run *run;
	int64_t recno;	   /* records staged so far: the staging line */
	int64_t zip_total; /* bytes read from the ZIP's members */
	struct pack *packs;
	size_t npacks, cap;
	xmlTextReaderPtr reader;
	struct input in;
	struct doc d;
};

/* ---- small checks ---- */

static bool ends_with_xml(const char *name)
{
	size_t n = strlen(name);
	const char *x;

	if (n < 5)
		return false;
	x = name + n - 4;
	return x[0] == '.' && (x[1] == 'x' || x[1] == 'X') &&
	       (x[2] == 'm' || x[2] == 'M') && (x[3] == 'l' || x[3] == 'L');
}

/*
 * A well-formed ATC code of any level: A, A01, A01A, A01AA or A01AA01.  A
 * shorter level, completed with the rest of a full code's shape, must make a
 * valid full code: validate_atc is the one definition of that shape.
 */
static bool atc_any_level(const char *s)
{
	static const char filler[] = "A00AA00";
	char full[8];
	struct err e;
	size_t n = strlen(s);

	if (n != 1 && n != 3 && n != 4 && n != 5 && n != 7)
		return false;
	memcpy(full, s, n);
	memcpy(full + n, filler + n, sizeof(full) - n);
	return validate_atc(full, "atc", &e) == 0;
}

/* A register code (lexicon code, organisation id): the CHECK on
 * npl_medprod.form and .mah_org_id. */
static bool register_code(const char *s)
{
	size_t n;

	for (n = 0; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return n >= 1 && n <= 64;
}

/* ---- reading one document ---- */

static void doc_fail(struct doc *d, int64_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void doc_fail(struct doc *d, int64_t line, const char *fmt, ...)
{
	va_list ap;

	if (d->failed)
		return;
	d->failed = true;
	d->fail_line = line;
	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
}

/* libxml2's read callback: bytes of the file or ZIP member, counted. */
static int input_read(void *ctx, char *buf, int len)
{
	struct npl *x = ctx;
	struct input *in = &x->in;
	int64_t n;

	if (len <= 0)
		return 0;
	if (in->zf) {
		n = zip_fread(in->zf, buf, (zip_uint64_t)len);
		if (n < 0)
			snprintf(in->read_why, sizeof(in->read_why), "%s",
				 zip_file_strerror(in->zf));
	} else {
		n = (int64_t)fread(buf, 1, (size_t)len, in->fp);
		if (n == 0 && ferror(in->fp)) {
			n = -1;
			snprintf(in->read_why, sizeof(in->read_why), "%s",
				 strerror(errno));
		}
	}
	if (n < 0) {
		in->read_error = true;
		return -1;
	}
	in->bytes += n;
	/* don't believe the ZIP directory: count what actually comes out */
	if (in->bytes > NPL_DOC_MAX) {
		in->too_big = true;
		return -1;
	}
	return (int)n;
}

/* Keep libxml2's first error, printable ASCII only: it ends up in JSON and
 * on a terminal, and may quote bytes of the document. */
static void xml_error(void *arg, xmlErrorPtr err)
{
	struct doc *d = arg;
	size_t i, o = 0;

	if (!err || err->level < XML_ERR_ERROR || d->xml_error[0])
		return;
	d->xml_line = err->line;
	for (i = 0;
	     err->message && err->message[i] && o + 1 < sizeof(d->xml_error);
	     i++) {
		unsigned char c = (unsigned char)err->message[i];

		d->xml_error[o++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
	}
	while (o > 0 && d->xml_error[o - 1] == ' ')
		o--;
	d->xml_error[o] = '\0';
	if (!d->xml_error[0])
		snprintf(d->xml_error, sizeof(d->xml_error), "not well-formed");
}

static enum el classify(enum el parent, const xmlChar *ns, const xmlChar *name)
{
	if (!ns || !name)
		return EL_OTHER;
	for (size_t i = 0; i < sizeof(grammar) / sizeof(grammar[0]); i++)
		if (grammar[i].parent == parent &&
		    strcmp((const char *)name, grammar[i].name) == 0 &&
		    strcmp((const char *)ns, grammar[i].ns) == 0)
			return grammar[i].el;
	return EL_OTHER;
}

/* Append text to f, blanks normalised, up to NPL_TEXT_MAX bytes. */
static void field_append(struct field *f, const char *s)
{
	for (; *s; s++) {
		char c = *s;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (f->len > 0)
				f->blank = true;
			continue;
		}
		if (f->len + (f->blank ? 2 : 1) > NPL_TEXT_MAX) {
			f->too_long = true;
			return;
		}
		if (f->blank)
			f->v[f->len++] = ' ';
		f->blank = false;
		f->v[f->len++] = c;
		f->v[f->len] = '\0';
	}
}

/* A field given as element text: collect the text nodes directly inside. */
static void text_begin(struct doc *d, struct field *f, int64_t line, int depth,
		       bool empty)
{
	if (f->seen)
		return;
	f->seen = true;
	f->line = line;
	if (!empty) {
		d->collect = f;
		d->collect_depth = depth;
	}
}

/* A field given as the v attribute of its element. */
static void attr_take(struct npl *x, struct field *f, int64_t line)
{
	xmlChar *v;

	if (f->seen)
		return;
	v = xmlTextReaderGetAttribute(x->reader, BAD_CAST "v");
	f->line = line;
	if (!v)
		return; /* no value: as if the element were absent */
	f->seen = true;
	field_append(f, (const char *)v);
	xmlFree(v);
}

static void pack_begin(struct npl *x, int64_t line)
{
	struct doc *d = &x->d;
	struct pack *p;

	d->in_pack = false;
	d->collect = NULL; /* never open here; the array may move */
	if (x->npacks >= NPL_PACKS_MAX) {
		if (!d->packs_overflow)
			import_reject(x->run, line, "package", NULL,
				      "more than %d packages in one product; "
				      "the rest are skipped",
				      NPL_PACKS_MAX);
		d->packs_overflow = true;
		return;
	}
	if (x->npacks == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		struct pack *more = realloc(x->packs, cap * sizeof(*more));

		if (!more) {
			doc_fail(d, line, "out of memory");
			return;
		}
		x->packs = more;
		x->cap = cap;
	}
	p = &x->packs[x->npacks++];
	memset(p, 0, sizeof(*p));
	p->line = line;
	d->in_pack = true;
}

/* The end of an organization: its id is the MAH's if its role says so. */
static void org_end(struct doc *d)
{
	if (d->org_id.seen && d->org_role.seen &&
	    strcmp(d->org_role.v, "MAH") == 0 && !d->mah.seen)
		d->mah = d->org_id;
	memset(&d->org_id, 0, sizeof(d->org_id));
	memset(&d->org_role, 0, sizeof(d->org_role));
}

static void on_start(struct npl *x)
{
	struct doc *d = &x->d;
	xmlTextReaderPtr r = x->reader;
	int depth = xmlTextReaderDepth(r);
	enum el parent, el;
	int64_t line = xmlGetLineNo(xmlTextReaderCurrentNode(r));
	bool empty = xmlTextReaderIsEmptyElement(r) == 1;
	struct pack *p = d->in_pack ? &x->packs[x->npacks - 1] : NULL;

	if (depth < 0)
		return;
	parent = depth == 0		   ? EL_TOP :
		 depth - 1 < NPL_DEPTH_MAX ? d->stack[depth - 1] :
					     EL_OTHER;
	el = classify(parent, xmlTextReaderConstNamespaceUri(r),
		      xmlTextReaderConstLocalName(r));
	if (depth < NPL_DEPTH_MAX)
		d->stack[depth] = el;
	if (depth == 0 && el != EL_MEDPROD) {
		const xmlChar *ns = xmlTextReaderConstNamespaceUri(r);

		doc_fail(
			d, line,
			"not an NPL product: the root element is %.60s%s%.80s%s,"
			" expected medprod in " NS_NPL,
			(const char *)xmlTextReaderConstLocalName(r),
			ns ? " (namespace " : " (no namespace",
			ns ? (const char *)ns : "", ")");
		return;
	}
	switch (el) {
	case EL_MEDPROD:
		d->root_line = line;
		d->complete = empty;
		break;
	case EL_NPLID: text_begin(d, &d->nplid, line, depth, empty); break;
	case EL_NAME: attr_take(x, &d->name, line); break;
	case EL_NAME_LEGAL: attr_take(x, &d->name_legal, line); break;
	case EL_STRENGTH_V:
		text_begin(d, &d->strength, line, depth, empty);
		break;
	case EL_FORM: attr_take(x, &d->form, line); break;
	case EL_ORG: org_end(d); break;
	case EL_ORG_ID: attr_take(x, &d->org_id, line); break;
	case EL_ORG_ROLE: attr_take(x, &d->org_role, line); break;
	case EL_ATC: attr_take(x, &d->atc, line); break;
	case EL_SALESSTOPPED: attr_take(x, &d->stopped, line); break;
	case EL_PACKAGE:
		pack_begin(x, line);
		if (empty)
			d->in_pack = false;
		break;
	case EL_PACKID:
		if (p)
			text_begin(d, &p->id, line, depth, empty);
		break;
	case EL_PACKTEXT_V:
		if (p)
			text_begin(d, &p->text, line, depth, empty);
		break;
	default: break;
	}
}

static void on_end(struct npl *x)
{
	struct doc *d = &x->d;
	int depth = xmlTextReaderDepth(x->reader);
	enum el el = depth >= 0 && depth < NPL_DEPTH_MAX ? d->stack[depth] :
							   EL_OTHER;

	if (d->collect && depth == d->collect_depth)
		d->collect = NULL;
	switch (el) {
	case EL_ORG: org_end(d); break;
	case EL_PACKAGE: d->in_pack = false; break;
	case EL_MEDPROD: d->complete = true; break;
	default: break;
	}
}

static void on_text(struct npl *x)
{
	struct doc *d = &x->d;
	const xmlChar *v;

	if (!d->collect ||
	    xmlTextReaderDepth(x->reader) != d->collect_depth + 1)
		return;
	v = xmlTextReaderConstValue(x->reader);
	if (v)
		field_append(d->collect, (const char *)v);
}

/* ---- judging and staging one product ---- */

static const char *value_of(const struct field *f)
{
	return f->seen ? f->v : NULL;
}

/* An optional field: absent or empty is NULL. */
static const char *given(const struct field *f)
{
	return f->seen && f->len > 0 ? f->v : NULL;
}

/* The line to blame for f: its own, or the product's when it is missing. */
static int64_t line_of(const struct doc *d, const struct field *f)
{
	return f->line > 0 ? f->line : d->root_line;
}

static bool fits(struct npl *x, const struct field *f, const char *name)
{
	if (!f->too_long)
		return true;
	import_reject(x->run, f->line, name, f->v, "longer than %d bytes",
		      NPL_TEXT_MAX);
	return false;
}

/* Optional free text: absent, or valid UTF-8 text of at most max bytes. */
static bool text_ok(struct npl *x, const struct field *f, size_t max,
		    const char *name)
{
	struct err e = {0};

	if (!fits(x, f, name))
		return false;
	if (!given(f) || validate_text(f->v, max, false, name, &e) == 0)
		return true;
	import_reject_err(x->run, f->line, f->v, &e);
	return false;
}

/* Validate the product: 0 when it may be staged. */
static bool medprod_ok(struct npl *x)
{
	struct doc *d = &x->d;
	struct err e = {0};
	bool ok = true;

	if (!fits(x, &d->nplid, "nplid"))
		ok = false;
	else if (validate_npl_id(value_of(&d->nplid), "nplid", &e) < 0) {
		import_reject_err(x->run, line_of(d, &d->nplid),
				  value_of(&d->nplid), &e);
		ok = false;
	}
	if (!fits(x, &d->name, "medprodname"))
		ok = false;
	else if (validate_text(value_of(&d->name), 300, false, "medprodname",
			       &e) < 0) {
		import_reject_err(x->run, line_of(d, &d->name),
				  value_of(&d->name), &e);
		ok = false;
	}
	ok &= text_ok(x, &d->name_legal, 1000, "medprodnamelegal");
	ok &= text_ok(x, &d->strength, 200, "strength-text");
	if (fits(x, &d->form, "pharmaceutical-form-lx")) {
		if (given(&d->form) && !register_code(d->form.v)) {
			import_reject(x->run, d->form.line,
				      "pharmaceutical-form-lx", d->form.v,
				      "not a register code: 1 to 64 letters, "
				      "digits, '.', '_' or '-'");
			ok = false;
		}
	} else {
		ok = false;
	}
	if (fits(x, &d->mah, "organization-lx")) {
		if (given(&d->mah) && !register_code(d->mah.v)) {
			import_reject(x->run, d->mah.line, "organization-lx",
				      d->mah.v,
				      "not a register code: 1 to 64 letters, "
				      "digits, '.', '_' or '-'");
			ok = false;
		}
	} else {
		ok = false;
	}
	if (fits(x, &d->atc, "atc-code-lx")) {
		if (given(&d->atc) && !atc_any_level(d->atc.v)) {
			import_reject(x->run, d->atc.line, "atc-code-lx",
				      d->atc.v,
				      "not an ATC code of any level (A, A01, "
				      "A01A, A01AA or A01AA01)");
			ok = false;
		}
	} else {
		ok = false;
	}
	if (fits(x, &d->stopped, "salesstopped")) {
		if (given(&d->stopped) && strcmp(d->stopped.v, "Y") != 0 &&
		    strcmp(d->stopped.v, "N") != 0) {
			import_reject(x->run, d->stopped.line, "salesstopped",
				      d->stopped.v, "must be Y or N");
			ok = false;
		}
	} else {
		ok = false;
	}
	return ok;
}

static bool pack_ok(struct npl *x, const struct pack *p)
{
	struct err e = {0};
	bool ok = true;

	if (!fits(x, &p->id, "nplpackid"))
		ok = false;
	else if (validate_npl_id(value_of(&p->id), "nplpackid", &e) < 0) {
		import_reject_err(x->run, p->id.line > 0 ? p->id.line : p->line,
				  value_of(&p->id), &e);
		ok = false;
	}
	ok &= text_ok(x, &p->text, 1000, "pack-text");
	return ok;
}

/* Stage the product and its good packages.  Bad packages are reported even
 * when the product itself is refused, so that one run shows every fault. */
static int medprod_stage(struct npl *x)
{
	struct doc *d = &x->d;
	struct import_run *run = x->run;
	char fline[24], parent[24];
	bool ok = medprod_ok(x);
	size_t i;

	snprintf(fline, sizeof(fline), "%" PRId64, d->root_line);
	if (ok) {
		const char *vals[] = {
			fline,
			run->file,
			"m",
			d->nplid.v,
			NULL,
			NULL,
			d->name.v,
			given(&d->name_legal),
			given(&d->strength),
			given(&d->form),
			given(&d->atc),
			given(&d->mah),
			given(&d->stopped) && d->stopped.v[0] == 'Y' ? "true" :
								       "false",
			NULL,
		};

		if (import_stage_row(run, ++x->recno, 14, vals) < 0)
			return -1;
	}
	snprintf(parent, sizeof(parent), "%" PRId64, x->recno);
	for (i = 0; i < x->npacks; i++) {
		const struct pack *p = &x->packs[i];

		if (!pack_ok(x, p) || !ok)
			continue;
		snprintf(fline, sizeof(fline), "%" PRId64,
			 p->id.line > 0 ? p->id.line : p->line);
		{
			const char *vals[] = {
				fline,	 run->file,
				"p",	 d->nplid.v,
				p->id.v, parent,
				NULL,	 NULL,
				NULL,	 NULL,
				NULL,	 NULL,
				NULL,	 given(&p->text),
			};

			if (import_stage_row(run, ++x->recno, 14, vals) < 0)
				return -1;
		}
	}
	return 0;
}

/*
 * Read one document from x->in (already open) and stage its product.  name
 * is the URL libxml2 reports.  0 whether the document was good or rejected;
 * -1 with run->err set only when staging failed.
 */
static int doc_read(struct npl *x, const char *name)
{
	struct doc *d = &x->d;
	int ret = 0, rc = 0;

	memset(d, 0, sizeof(*d));
	x->npacks = 0;
	x->reader = xmlReaderForIO(input_read, NULL, x, name, NULL,
				   NPL_XML_OPTIONS);
	if (!x->reader)
		return import_reject(x->run, 0, "xml", NULL,
				     "cannot start the XML reader");
	xmlTextReaderSetStructuredErrorHandler(x->reader, xml_error, d);
	while (!d->failed && (ret = xmlTextReaderRead(x->reader)) == 1) {
		switch (xmlTextReaderNodeType(x->reader)) {
		case XML_READER_TYPE_ELEMENT: on_start(x); break;
		case XML_READER_TYPE_END_ELEMENT: on_end(x); break;
		case XML_READER_TYPE_TEXT:
		case XML_READER_TYPE_CDATA:
		case XML_READER_TYPE_WHITESPACE:
		case XML_READER_TYPE_SIGNIFICANT_WHITESPACE: on_text(x); break;
		case XML_READER_TYPE_DOCUMENT_TYPE:
			/* line 0: libxml2 keeps no line for a DTD node */
			doc_fail(d, 0,
				 "a DOCTYPE is not accepted (NPL documents "
				 "have none; it could declare entities)");
			break;
		default: break;
		}
	}
	if (!d->failed && ret < 0) {
		if (x->in.too_big)
			doc_fail(d, 0, "document larger than %d bytes",
				 NPL_DOC_MAX);
		else if (x->in.read_error)
			doc_fail(d, 0, "read error: %s", x->in.read_why);
		else
			doc_fail(d, d->xml_line, "not well-formed XML: %s",
				 d->xml_error[0] ? d->xml_error :
						   "parse error");
	}
	if (!d->failed && !d->complete)
		doc_fail(d, d->root_line, "no complete medprod element");
	xmlFreeTextReader(x->reader);
	x->reader = NULL;
	if (d->failed)
		return import_reject(x->run, d->fail_line, "xml", NULL, "%s",
				     d->why);
	rc = medprod_stage(x);
	return rc;
}

/* ---- sources ---- */

/* A file name fit to quote in a report (valid UTF-8, printable). */
static const char *shown_name(const char *name)
{
	struct err e;

	return validate_text(name, 255, false, "file", &e) == 0 ?
		       name :
		       "(a file whose name is not printable UTF-8)";
}

static int file_read(struct npl *x, const char *path, const char *name)
{
	memset(&x->in, 0, sizeof(x->in));
	x->in.fp = fopen(path, "rb");
	if (!x->in.fp) {
		if (!name)
			return err_set(x->run->err, ERR_INVALID, "source",
				       "%s: %s", path, strerror(errno));
		return import_reject(x->run, 0, "file", NULL, "cannot open: %s",
				     strerror(errno));
	}
	{
		int rc = doc_read(x, name ? name : path);

		fclose(x->in.fp);
		x->in.fp = NULL;
		return rc;
	}
}

/* Every regular file of the directory in name order, as the frame hashes
 * them (names starting with '.' are not part of the source). */
static int dir_read(struct npl *x, const char *path)
{
	struct import_run *run = x->run;
	char **names, full[4096];
	size_t n, i;
	int rc = -1;

	if (import_list_dir(path, &names, &n, run->err) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct stat sb;

		if ((size_t)snprintf(full, sizeof(full), "%s/%s", path,
				     names[i]) >= sizeof(full) ||
		    stat(full, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		run->file = shown_name(names[i]);
		if (!ends_with_xml(names[i]))
			import_reject(run, 0, "file", NULL,
				      "not an .xml file: a directory source "
				      "holds product documents only");
		else if (file_read(x, full, run->file) < 0)
			goto out;
	}
	rc = 0;
out:
	run->file = NULL;
	import_names_free(names, n);
	return rc;
}

/* Every *.xml member of the ZIP in directory order, streamed. */
static int zip_read(struct npl *x, const char *path)
{
	struct import_run *run = x->run;
	zip_t *za;
	zip_int64_t n, i;
	int zerr = 0, rc = -1;

	za = zip_open(path, ZIP_RDONLY, &zerr);
	if (!za) {
		zip_error_t ze;

		zip_error_init_with_code(&ze, zerr);
		err_set(run->err, ERR_INVALID, "source",
			"%s: not a readable ZIP: %s", path,
			zip_error_strerror(&ze));
		zip_error_fini(&ze);
		return -1;
	}
	n = zip_get_num_entries(za, 0);
	if (n < 0 || n > NPL_FILES_MAX) {
		err_set(run->err, ERR_INVALID, "source",
			"%s: %lld members, at most %d are read", path,
			(long long)n, NPL_FILES_MAX);
		goto out;
	}
	for (i = 0; i < n; i++) {
		zip_stat_t st;
		size_t len;

		run->file = NULL;
		if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) < 0 ||
		    !(st.valid & ZIP_STAT_NAME)) {
			run->file = "(a ZIP member)";
			import_reject(run, 0, "file", NULL,
				      "member %lld: cannot read its entry: %s",
				      (long long)i, zip_strerror(za));
			continue;
		}
		len = strlen(st.name);
		if (len > 0 && st.name[len - 1] == '/')
			continue; /* a directory entry */
		run->file = shown_name(st.name);
		if (!ends_with_xml(st.name)) {
			import_reject(run, 0, "file", NULL,
				      "not an .xml member: only "
				      "Productdata/*.xml is read");
			continue;
		}
		if ((st.valid & ZIP_STAT_SIZE) && st.size > NPL_DOC_MAX) {
			import_reject(run, 0, "xml", NULL,
				      "document of %llu bytes, larger than %d",
				      (unsigned long long)st.size, NPL_DOC_MAX);
			continue;
		}
		memset(&x->in, 0, sizeof(x->in));
		x->in.zf = zip_fopen_index(za, (zip_uint64_t)i, 0);
		if (!x->in.zf) {
			import_reject(run, 0, "file", NULL, "cannot read: %s",
				      zip_strerror(za));
			continue;
		}
		rc = doc_read(x, run->file);
		x->zip_total += x->in.bytes;
		zip_fclose(x->in.zf);
		x->in.zf = NULL;
		if (rc < 0)
			goto out;
		rc = -1;
		if (x->zip_total > NPL_ZIP_TOTAL_MAX) {
			err_set(run->err, ERR_INVALID, "source",
				"%s: more than %lld bytes uncompressed", path,
				(long long)NPL_ZIP_TOTAL_MAX);
			goto out;
		}
	}
	rc = 0;
out:
	run->file = NULL;
	zip_discard(za); /* read-only: nothing to write back */
	return rc;
}

/* A ZIP starts with a local file header, or, when empty, with the end of
 * central directory record. */
static bool is_zip(const char *path)
{
	unsigned char m[4] = {0};
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return false;
	n = fread(m, 1, sizeof(m), f);
	fclose(f);
	return n == 4 && m[0] == 'P' && m[1] == 'K' &&
	       ((m[2] == 3 && m[3] == 4) || (m[2] == 5 && m[3] == 6));
}

static int parse(struct import_run *run, const char *path)
{
	struct npl *x = calloc(1, sizeof(*x));
	struct stat sb;
	int rc = -1;

	if (!x)
		return err_set(run->err, ERR_INTERNAL, NULL, "out of memory");
	x->run = run;
	xmlInitParser(); /* once per process; cheap after the first call */
	if (stat(path, &sb) != 0)
		err_set(run->err, ERR_INVALID, "source", "%s: %s", path,
			strerror(errno));
	else if (S_ISDIR(sb.st_mode))
		rc = dir_read(x, path);
	else if (is_zip(path))
		rc = zip_read(x, path);
	else
		rc = file_read(x, path, NULL);
	free(x->packs);
	free(x);
	return rc;
}

/* ---- check and apply ---- */

/* Products named twice in one import (two documents, or a ZIP and a
 * directory of the same day): the first counts. */
static const char check_dup_medprod[] =
	"WITH first AS ("
	"  SELECT DISTINCT ON (npl_id) npl_id, line, fline, file"
	"    FROM stage_npl WHERE kind = 'm' ORDER BY npl_id, line),"
	" dup AS ("
	"  UPDATE stage_npl s SET bad = true FROM first f"
	"   WHERE s.kind = 'm' AND s.npl_id = f.npl_id AND s.line > f.line"
	"  RETURNING s.fline, s.file, s.npl_id, f.fline AS first_line,"
	"	    f.file AS first_file)"
	" INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT fline, 'nplid', npl_id,"
	"	 coalesce('in ' || file || ': ', '') || 'duplicate of '"
	"	 || coalesce(first_file || ' ', '') || 'line ' || first_line"
	"   FROM dup";

/* A refused product takes its packages with it (they are not reported: the
 * product's rejection says it). */
static const char check_orphans[] =
	"UPDATE stage_npl p SET bad = true"
	"  FROM stage_npl m"
	" WHERE p.kind = 'p' AND m.kind = 'm' AND p.parent = m.line"
	"   AND m.bad AND NOT p.bad";

/* A package under two products, or twice under one. */
static const char check_dup_package[] =
	"WITH first AS ("
	"  SELECT DISTINCT ON (npl_pack_id) npl_pack_id, npl_id, line, fline,"
	"	  file"
	"    FROM stage_npl WHERE kind = 'p' AND NOT bad"
	"   ORDER BY npl_pack_id, line),"
	" dup AS ("
	"  UPDATE stage_npl s SET bad = true FROM first f"
	"   WHERE s.kind = 'p' AND NOT s.bad"
	"     AND s.npl_pack_id = f.npl_pack_id AND s.line > f.line"
	"  RETURNING s.fline, s.file, s.npl_pack_id, f.npl_id,"
	"	    f.fline AS first_line, f.file AS first_file)"
	" INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT fline, 'nplpackid', npl_pack_id,"
	"	 coalesce('in ' || file || ': ', '') || 'duplicate of '"
	"	 || coalesce(first_file || ' ', '') || 'line ' || first_line"
	"	 || ' (product ' || npl_id || ')'"
	"   FROM dup";

static int check(struct import_run *run)
{
	if (import_exec(run, check_dup_medprod, 0, NULL) < 0 ||
	    import_exec(run, check_orphans, 0, NULL) < 0 ||
	    import_exec(run, check_dup_package, 0, NULL) < 0)
		return -1;
	return 0;
}

/* Upserts touch only rows whose content changes: batch_id and updated_at
 * then say when the register last changed them, and a forced re-import of
 * the same content writes nothing. */
static const char apply_medprod[] =
	"INSERT INTO npl_medprod AS t (npl_id, name, name_legal, strength,"
	"	form, atc, mah_org_id, sales_stopped, batch_id, updated_at)"
	" SELECT npl_id, name, name_legal, strength, form, atc, mah_org_id,"
	"	 sales_stopped, $1, now()"
	"   FROM stage_npl WHERE kind = 'm' AND NOT bad ORDER BY npl_id"
	" ON CONFLICT (npl_id) DO UPDATE"
	"   SET name = excluded.name, name_legal = excluded.name_legal,"
	"	strength = excluded.strength, form = excluded.form,"
	"	atc = excluded.atc, mah_org_id = excluded.mah_org_id,"
	"	sales_stopped = excluded.sales_stopped,"
	"	batch_id = excluded.batch_id, updated_at = excluded.updated_at"
	" WHERE (t.name, t.name_legal, t.strength, t.form, t.atc,"
	"	 t.mah_org_id, t.sales_stopped)"
	"	IS DISTINCT FROM"
	"	(excluded.name, excluded.name_legal, excluded.strength,"
	"	 excluded.form, excluded.atc, excluded.mah_org_id,"
	"	 excluded.sales_stopped)";

static const char apply_package[] =
	"INSERT INTO npl_package AS t (npl_pack_id, npl_id, pack_text,"
	"	batch_id, updated_at)"
	" SELECT npl_pack_id, npl_id, pack_text, $1, now()"
	"   FROM stage_npl WHERE kind = 'p' AND NOT bad ORDER BY npl_pack_id"
	" ON CONFLICT (npl_pack_id) DO UPDATE"
	"   SET npl_id = excluded.npl_id, pack_text = excluded.pack_text,"
	"	batch_id = excluded.batch_id, updated_at = excluded.updated_at"
	" WHERE (t.npl_id, t.pack_text)"
	"	IS DISTINCT FROM (excluded.npl_id, excluded.pack_text)";

/* Catalog products of the imported packages: the register's npl_id,
 * strength, form code and full-level ATC; what it does not say is kept.
 * The name is not touched (see the head of this file). */
static const char apply_product[] =
	"UPDATE product p"
	"   SET npl_id = m.npl_id,"
	"	atc = coalesce(f.atc, p.atc),"
	"	strength = coalesce(m.strength, p.strength),"
	"	form = coalesce(m.form, p.form),"
	"	batch_id = $1"
	"  FROM stage_npl s"
	"  JOIN npl_medprod m ON m.npl_id = s.npl_id"
	"  CROSS JOIN LATERAL (SELECT CASE WHEN m.atc ~"
	"	'^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$' THEN m.atc END AS atc) f"
	" WHERE s.kind = 'p' AND NOT s.bad AND p.npl_pack_id = s.npl_pack_id"
	"   AND (p.npl_id, p.atc, p.strength, p.form)"
	"	IS DISTINCT FROM"
	"	(m.npl_id, coalesce(f.atc, p.atc),"
	"	 coalesce(m.strength, p.strength), coalesce(m.form, p.form))";

static int apply(struct import_run *run)
{
	char batch[24];
	const char *params[] = {batch};
	PGresult *res = NULL;
	int rc = -1;

	snprintf(batch, sizeof(batch), "%" PRId64, run->batch_id);
	if (import_exec(run, apply_medprod, 1, params) < 0 ||
	    import_exec(run, apply_package, 1, params) < 0 ||
	    import_exec(run, apply_product, 1, params) < 0)
		goto out;
	res = db_exec(run->db, "SELECT count(*) FROM stage_npl WHERE NOT bad",
		      0, NULL, run->err);
	if (!res)
		goto out;
	run->applied = db_int64(res, 0, 0);
	rc = 0;
out:
	PQclear(res);
	return rc;
}

const struct import_feed import_feed_npl = {
	.name = "npl",
	.summary = "Läkemedelsverket's NPL product export (XML: one product, "
		   "a directory, or the nightly ZIP)",
	.scope = IMPORT_NATIONAL,
	/*
	 * line: the record's number in the import (unique, as the frame
	 * wants); fline and file: where it is, for messages.  parent: a
	 * package's product record.  bad: refused by the check step.
	 */
	.stage_sql = "CREATE TEMP TABLE stage_npl ("
		     " line bigint NOT NULL,"
		     " fline bigint NOT NULL,"
		     " file text,"
		     " kind char(1) NOT NULL CHECK (kind IN ('m', 'p')),"
		     " npl_id text NOT NULL,"
		     " npl_pack_id text,"
		     " parent bigint,"
		     " name text,"
		     " name_legal text,"
		     " strength text,"
		     " form text,"
		     " atc text,"
		     " mah_org_id text,"
		     " sales_stopped boolean,"
		     " pack_text text,"
		     " bad boolean NOT NULL DEFAULT false"
		     ") ON COMMIT DROP",
	.copy_sql = "COPY stage_npl (line, fline, file, kind, npl_id,"
		    " npl_pack_id, parent, name, name_legal, strength, form,"
		    " atc, mah_org_id, sales_stopped, pack_text) FROM STDIN",
	.parse = parse,
	.check = check,
	.apply = apply,
	.accepts_dir = true,
};
