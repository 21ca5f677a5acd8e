/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/ipfix: the message encoder fed with random flow records, every message
 * checked by a strict RFC 7011 reader written here, which decodes each data
 * record through the template it received and compares it with the record
 * that went in.
 *
 * Input: 4 header bytes (message capacity, sequence start, flags), then
 * records of RECORD_BYTES each (family, addresses, ports, protocol, VLAN,
 * flags, end reason, counters, times; any values). The buffer handed to the
 * encoder is exactly `capacity` bytes of heap, so ASan catches a write past it.
 *
 * Why a reader of our own in the loop and ipfixDump outside it: a process per
 * message would make the fuzzer a thousand times slower, so the per-input
 * check is in-process; the reader's strictness is then checked against a real
 * IPFIX implementation by scripts/fuzz, which replays the corpus with
 * SAFEM_FUZZ_IPFIX_OUT=FILE (every message appended to FILE, one sequence
 * across inputs, as an IPFIX file per RFC 5655) and requires libfixbuf's
 * ipfixDump to read FILE without complaint and count the same data records.
 */
#include <string.h>

#include "fuzz_common.h"
#include "safem_flow.h"
#include "safem_ipfix.h"

#define RECORD_BYTES 74
#define MAX_FIELDS 32
#define MAX_RECORDS_PER_MESSAGE (SAFEM_IPFIX_MESSAGE_MAX / SAFEM_IPFIX_RECORD_BYTES_IPV4 + 1)

/* ---- strict reader --------------------------------------------------- */

struct field_spec {
	uint16_t ie;
	uint16_t length;
};

struct template {
	uint16_t id; /* 0: unused */
	uint16_t nfields;
	struct field_spec f[MAX_FIELDS];
	uint32_t record_bytes;
};

/* The session's templates (RFC 7011 section 8: a template lives for the session). */
struct session {
	struct template t[4];
};

/*
 * Information elements a reader must know (RFC 7012 / IANA), with their
 * abstract data type's size: addresses must be exactly that long; unsigned
 * integers may use reduced-size encoding (RFC 7011 section 6.2), 1..size.
 */
struct ie_info {
	uint16_t ie;
	uint16_t size;
	bool exact;
};
static const struct ie_info known_ies[] = {
	{1, 8, false},	 /* octetDeltaCount unsigned64 */
	{2, 8, false},	 /* packetDeltaCount unsigned64 */
	{4, 1, false},	 /* protocolIdentifier unsigned8 */
	{6, 2, false},	 /* tcpControlBits unsigned16 (RFC 7125) */
	{7, 2, false},	 /* sourceTransportPort unsigned16 */
	{8, 4, true},	 /* sourceIPv4Address */
	{11, 2, false},	 /* destinationTransportPort */
	{12, 4, true},	 /* destinationIPv4Address */
	{27, 16, true},	 /* sourceIPv6Address */
	{28, 16, true},	 /* destinationIPv6Address */
	{32, 2, false},	 /* icmpTypeCodeIPv4 */
	{58, 2, false},	 /* vlanId */
	{60, 1, false},	 /* ipVersion */
	{136, 1, false}, /* flowEndReason */
	{139, 2, false}, /* icmpTypeCodeIPv6 */
	{152, 8, false}, /* flowStartMilliseconds dateTimeMilliseconds */
	{153, 8, false}, /* flowEndMilliseconds */
};

static const struct ie_info *
ie_lookup(uint16_t ie)
{
	size_t i;

	for (i = 0; i < sizeof(known_ies) / sizeof(known_ies[0]); i++)
		if (known_ies[i].ie == ie)
			return &known_ies[i];
	return NULL;
}

static uint64_t
get_be(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/* A decoded data record: value per IE (addresses as bytes). */
struct decoded {
	uint16_t template_id;
	uint64_t value[160];
	uint8_t src[16], dst[16];
};

struct decoded_message {
	uint32_t export_time, sequence, domain;
	unsigned int nrecords;
	struct decoded r[MAX_RECORDS_PER_MESSAGE];
};

static void
read_template_set(struct session *s, const uint8_t *p, uint32_t len)
{
	uint32_t off = 0;

	/* At least one template record; what is left under 4 bytes is padding of zeros. */
	FUZZ_CHECK(len >= 4);
	while (len - off >= 4) {
		uint16_t id = (uint16_t)get_be(p + off, 2), n = (uint16_t)get_be(p + off + 2, 2);
		struct template t = {.id = id, .nfields = n};
		unsigned int i, slot;

		off += 4;
		FUZZ_CHECK(id >= 256);
		/* Field count 0 withdraws a template: only over SCTP/TCP, never sent by us. */
		FUZZ_CHECK(n >= 1 && n <= MAX_FIELDS);
		FUZZ_CHECK(len - off >= 4u * n);
		for (i = 0; i < n; i++) {
			const struct ie_info *info;

			t.f[i].ie = (uint16_t)get_be(p + off, 2);
			t.f[i].length = (uint16_t)get_be(p + off + 2, 2);
			off += 4;
			/* Enterprise bit set: 4 more octets; we only send IANA elements. */
			FUZZ_CHECK(!(t.f[i].ie & 0x8000));
			info = ie_lookup(t.f[i].ie);
			FUZZ_CHECK(info != NULL);
			FUZZ_CHECK(t.f[i].length != 65535); /* no variable-length elements */
			if (info->exact)
				FUZZ_CHECK(t.f[i].length == info->size);
			else
				FUZZ_CHECK(t.f[i].length >= 1 && t.f[i].length <= info->size);
			t.record_bytes += t.f[i].length;
		}
		FUZZ_CHECK(t.record_bytes > 0);
		slot = id & 3;
		s->t[slot] = t;
	}
	for (; off < len; off++)
		FUZZ_CHECK(p[off] == 0);
}

static void
read_data_set(const struct session *s, uint16_t id, const uint8_t *p, uint32_t len,
	      struct decoded_message *out)
{
	const struct template *t = &s->t[id & 3];
	uint32_t off = 0;

	/* A data set needs its template first (we never send options templates). */
	FUZZ_CHECK(t->id == id);
	FUZZ_CHECK(len >= t->record_bytes); /* an empty data set is not a set we send */
	while (len - off >= t->record_bytes) {
		struct decoded *d;
		unsigned int i;

		FUZZ_CHECK(out->nrecords < MAX_RECORDS_PER_MESSAGE);
		d = &out->r[out->nrecords++];
		memset(d, 0, sizeof(*d));
		d->template_id = id;
		for (i = 0; i < t->nfields; i++) {
			const struct field_spec *f = &t->f[i];

			if (f->ie == 8 || f->ie == 27)
				memcpy(d->src, p + off, f->length);
			else if (f->ie == 12 || f->ie == 28)
				memcpy(d->dst, p + off, f->length);
			else
				d->value[f->ie] = get_be(p + off, f->length);
			off += f->length;
		}
	}
	/* Padding (RFC 7011 section 3.3.1): shorter than a record, zeros. */
	for (; off < len; off++)
		FUZZ_CHECK(p[off] == 0);
}

/* RFC 7011 sections 3.1 (header), 3.3 (sets), 3.4 (template records). */
static void
read_message(struct session *s, const uint8_t *m, uint32_t len, struct decoded_message *out)
{
	uint32_t off = SAFEM_IPFIX_MESSAGE_HEADER_BYTES;

	out->nrecords = 0;
	FUZZ_CHECK(len >= SAFEM_IPFIX_MESSAGE_HEADER_BYTES && len <= SAFEM_IPFIX_MESSAGE_MAX);
	FUZZ_CHECK(get_be(m, 2) == 10);
	FUZZ_CHECK(get_be(m + 2, 2) == len);
	out->export_time = (uint32_t)get_be(m + 4, 4);
	out->sequence = (uint32_t)get_be(m + 8, 4);
	out->domain = (uint32_t)get_be(m + 12, 4);
	while (off < len) {
		uint16_t id, set_len;

		FUZZ_CHECK(len - off >= SAFEM_IPFIX_SET_HEADER_BYTES);
		id = (uint16_t)get_be(m + off, 2);
		set_len = (uint16_t)get_be(m + off + 2, 2);
		FUZZ_CHECK(set_len >= SAFEM_IPFIX_SET_HEADER_BYTES && set_len <= len - off);
		if (id == SAFEM_IPFIX_TEMPLATE_SET_ID)
			read_template_set(s, m + off + 4, set_len - 4u);
		else if (id >= 256)
			read_data_set(s, id, m + off + 4, set_len - 4u, out);
		else
			FUZZ_CHECK(!"set id 0, 1, 3 (options template: never sent) or 4..255");
		off += set_len;
	}
	FUZZ_CHECK(off == len);
}

/* ---- the records that went in ---------------------------------------- */

static void
record_from_bytes(const uint8_t *b, struct safem_flow_record *r)
{
	memset(r, 0, sizeof(*r));
	/* Mostly valid families, sometimes not (the encoder must refuse those). */
	r->key.ip_version = (b[0] & 0x80) ? b[0] & 0x0f : (b[0] & 1) ? 6 : 4;
	memcpy(r->key.src_addr, b + 1, 16);
	memcpy(r->key.dst_addr, b + 17, 16);
	if (r->key.ip_version == 4) {
		/* The flow key keeps bytes 4-15 zero for IPv4 (safem_packet.h). */
		memset(r->key.src_addr + 4, 0, 12);
		memset(r->key.dst_addr + 4, 0, 12);
	}
	r->key.src_port = (uint16_t)get_be(b + 33, 2);
	r->key.dst_port = (uint16_t)get_be(b + 35, 2);
	r->key.proto = b[37];
	r->key.vlan_id = (uint16_t)get_be(b + 38, 2) & 0x0fff;
	r->tcp_flags = b[40];
	r->end_reason = b[41];
	r->packets = get_be(b + 42, 8);
	r->bytes = get_be(b + 50, 8);
	r->first_ms = get_be(b + 58, 8);
	r->last_ms = get_be(b + 66, 8);
}

static void
check_record(const struct decoded *d, const struct safem_flow_record *r)
{
	const struct safem_flow_key *k = &r->key;
	bool v4 = k->ip_version == 4;
	bool icmp = (v4 && k->proto == 1) || (!v4 && k->proto == 58);

	FUZZ_CHECK(d->template_id == (v4 ? SAFEM_IPFIX_TEMPLATE_IPV4 : SAFEM_IPFIX_TEMPLATE_IPV6));
	FUZZ_CHECK(memcmp(d->src, k->src_addr, v4 ? 4 : 16) == 0);
	FUZZ_CHECK(memcmp(d->dst, k->dst_addr, v4 ? 4 : 16) == 0);
	FUZZ_CHECK(d->value[7] == k->src_port);
	FUZZ_CHECK(d->value[11] == k->dst_port);
	FUZZ_CHECK(d->value[v4 ? 32 : 139] == (icmp ? k->dst_port : 0));
	FUZZ_CHECK(d->value[4] == k->proto);
	FUZZ_CHECK(d->value[1] == r->bytes);
	FUZZ_CHECK(d->value[2] == r->packets);
	FUZZ_CHECK(d->value[152] == r->first_ms);
	FUZZ_CHECK(d->value[153] == r->last_ms);
	FUZZ_CHECK(d->value[6] == r->tcp_flags);
	FUZZ_CHECK(d->value[136] == r->end_reason);
	FUZZ_CHECK(d->value[60] == k->ip_version);
	FUZZ_CHECK(d->value[58] == k->vlan_id);
}

/* ---- the target ------------------------------------------------------ */

static FILE *dump_file;	   /* SAFEM_FUZZ_IPFIX_OUT */
static uint32_t dump_sequence; /* one sequence over the whole file */
static uint64_t dump_records;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *out = getenv("SAFEM_FUZZ_IPFIX_OUT");

	(void)argc;
	(void)argv;
	if (out != NULL && out[0] != '\0') {
		dump_file = fopen(out, "wb");
		FUZZ_CHECK(dump_file != NULL);
	}
	return 0;
}

/* Called at exit in replay mode: the record count ipfixDump must agree with. */
static void __attribute__((destructor))
report_dump(void)
{
	if (dump_file != NULL) {
		fclose(dump_file);
		fprintf(stderr, "SAFEM_FUZZ_IPFIX_RECORDS %llu\n", (unsigned long long)dump_records);
	}
}

static struct decoded_message decoded;

/* Finish, read back and compare; returns the next sequence number. */
static uint32_t
finish_and_check(struct session *s, struct safem_ipfix_message *m, uint32_t sequence,
		 const struct safem_flow_record *in, unsigned int nin)
{
	uint32_t len, i;

	len = safem_ipfix_message_finish(m, 1700000000u + sequence, sequence, 42);
	FUZZ_CHECK(len <= m->capacity);
	FUZZ_CHECK(safem_ipfix_message_records(m) == nin);
	read_message(s, m->buf, len, &decoded);
	FUZZ_CHECK(decoded.sequence == sequence && decoded.domain == 42);
	FUZZ_CHECK(decoded.nrecords == nin);
	for (i = 0; i < nin; i++)
		check_record(&decoded.r[i], &in[i]);
	if (dump_file != NULL) {
		FUZZ_CHECK(fwrite(m->buf, 1, len, dump_file) == len);
		dump_records += nin;
	}
	/* RFC 7011 section 3.1: data records sent before this message, mod 2^32. */
	return sequence + nin;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct safem_flow_record in[MAX_RECORDS_PER_MESSAGE];
	struct session s = {0};
	struct safem_ipfix_message m;
	uint32_t capacity, sequence;
	unsigned int nin = 0;
	bool templates_every_message;
	uint8_t *buf;
	size_t off;

	if (size < 4)
		return 0;
	/* 16..65535 bytes: below ~96 nothing fits, which must come out as -ENOSPC. */
	capacity = 16 + (uint32_t)get_be(data, 2) % (SAFEM_IPFIX_MESSAGE_MAX - 16 + 1);
	sequence = dump_file != NULL ? dump_sequence : (uint32_t)data[2] << 24 | data[2];
	templates_every_message = data[3] & 1;
	buf = malloc(capacity);
	FUZZ_CHECK(buf != NULL);

	safem_ipfix_message_init(&m, buf, capacity);
	if (safem_ipfix_message_add_templates(&m) != 0) {
		FUZZ_CHECK(capacity < SAFEM_IPFIX_MESSAGE_HEADER_BYTES + SAFEM_IPFIX_TEMPLATE_SET_BYTES);
		free(buf);
		return 0;
	}
	FUZZ_CHECK(safem_ipfix_message_add_templates(&m) == -EINVAL); /* once per message */
	for (off = 4; off + RECORD_BYTES <= size; off += RECORD_BYTES) {
		struct safem_flow_record r;
		int rc;

		record_from_bytes(data + off, &r);
		rc = safem_ipfix_message_add_record(&m, &r);
		if (r.key.ip_version != 4 && r.key.ip_version != 6) {
			FUZZ_CHECK(rc == -EINVAL && safem_ipfix_record_bytes(&r) == 0);
			continue;
		}
		if (rc == -ENOSPC) {
			/* Full: the message so far must be whole; start the next one. */
			FUZZ_CHECK(m.length + safem_ipfix_record_bytes(&r) + SAFEM_IPFIX_SET_HEADER_BYTES >
				   capacity);
			sequence = finish_and_check(&s, &m, sequence, in, nin);
			nin = 0;
			safem_ipfix_message_init(&m, buf, capacity);
			if (templates_every_message)
				FUZZ_CHECK(safem_ipfix_message_add_templates(&m) == 0);
			rc = safem_ipfix_message_add_record(&m, &r);
			if (rc == -ENOSPC) {
				/* Only when not even one record fits beside the header
				 * (and templates). */
				FUZZ_CHECK(m.length + safem_ipfix_record_bytes(&r) +
						   SAFEM_IPFIX_SET_HEADER_BYTES >
					   capacity);
				break;
			}
		}
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(nin < MAX_RECORDS_PER_MESSAGE);
		in[nin++] = r;
	}
	/* An exporter sends nothing for an empty message (safem_ipfix_message_empty). */
	if (!safem_ipfix_message_empty(&m))
		sequence = finish_and_check(&s, &m, sequence, in, nin);
	if (dump_file != NULL)
		dump_sequence = sequence;
	free(buf);
	return 0;
}
