/* aml: a small ACPI Machine Language byte-code writer (ACPI 6.x, section 20)
 * for the DSDT. A struct aml is a growing byte buffer; calls append terms to
 * it. Errors are sticky: the first failure (bad name, -ENOMEM, unbalanced
 * scopes) is remembered and every later call does nothing, so callers build a
 * whole table and check once with aml_finish(). Scoped terms (Scope, Device,
 * Method, Package, Buffer, ResourceTemplate) are opened with *_begin and
 * closed with aml_end(); the PkgLength is encoded when the scope closes. */
#ifndef VMKIT_AML_H
#define VMKIT_AML_H

#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 16
#define AML_MAX_SIZE 0x0FFFFFFFu   /* largest value a 4-byte PkgLength holds */

enum aml_scope_kind {
	AML_SCOPE_PKGLEN,      /* Scope, Device, Method, Package: PkgLength only */
	AML_SCOPE_BUFFER,      /* Buffer: PkgLength + BufferSize */
	AML_SCOPE_RESTEMPLATE, /* Buffer holding resource descriptors + EndTag */
};

struct aml_open_scope {
	size_t start;          /* offset where PkgLength will be inserted */
	enum aml_scope_kind kind;
};

struct aml {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int err;               /* first error, 0 if none */
	struct aml_open_scope scopes[AML_MAX_DEPTH];
	unsigned depth;
};

/* Address space resource types (Word/DWord/QWord Address Space descriptors). */
enum aml_addr_type {
	AML_ADDR_MEMORY = 0,
	AML_ADDR_IO = 1,
	AML_ADDR_BUS = 2,
};

/* One address space descriptor; fields as in ACPI 6.x 6.4.3.5. */
struct aml_addr_space {
	enum aml_addr_type type;
	uint8_t general_flags;  /* AML_ADDR_F_* */
	uint8_t type_flags;     /* e.g. AML_MEM_F_* for memory */
	uint64_t granularity;
	uint64_t min;
	uint64_t max;
	uint64_t translation;
	uint64_t length;
};

#define AML_ADDR_F_CONSUMER  0x01 /* ResourceConsumer (else ResourceProducer) */
#define AML_ADDR_F_SUBTRACT  0x02 /* SubDecode (else PosDecode) */
#define AML_ADDR_F_MIN_FIXED 0x04
#define AML_ADDR_F_MAX_FIXED 0x08
#define AML_MEM_F_RW         0x01 /* ReadWrite (else ReadOnly) */
#define AML_MEM_F_CACHEABLE  0x02
#define AML_MEM_F_WC         0x04
#define AML_MEM_F_PREFETCH   0x06
#define AML_IO_F_ENTIRE      0x03 /* EntireRange for I/O type_flags */

/* Extended interrupt descriptor flags. */
#define AML_INT_F_CONSUMER   0x01
#define AML_INT_F_EDGE       0x02 /* else level */
#define AML_INT_F_ACTIVE_LOW 0x04 /* else active high */
#define AML_INT_F_SHARED     0x08

void aml_init(struct aml *a);
/* Release the buffer; accepts NULL. */
void aml_free(struct aml *a);
/* 0 when every call succeeded and all scopes are closed, else -errno. */
int aml_finish(const struct aml *a);

/* Raw bytes (opcodes the builder has no helper for). */
void aml_bytes(struct aml *a, const void *data, size_t len);
void aml_byte(struct aml *a, uint8_t b);

/* NameString: "\\_SB_.PCI0", "^FOO", "_S5", "COM1"; segments shorter than
 * four characters are padded with '_'. Invalid names set -EINVAL. */
void aml_namestring(struct aml *a, const char *name);
/* Integer data with the smallest encoding: Zero, One, Ones, Byte/Word/DWord/
 * QWordPrefix. */
void aml_integer(struct aml *a, uint64_t v);
/* String of ASCII 0x01-0x7F characters. */
void aml_string(struct aml *a, const char *s);
/* Compressed EISA ID ("PNP0501") as an integer; invalid IDs set -EINVAL. */
void aml_eisaid(struct aml *a, const char *id);
/* Buffer(len){data} in one go. */
void aml_buffer(struct aml *a, const void *data, size_t len);

/* Name(name, <next term>): emits NameOp + NameString; append the value next. */
void aml_name(struct aml *a, const char *name);
/* Return(<next term>): emits ReturnOp; append the value next. */
void aml_return(struct aml *a);

void aml_scope_begin(struct aml *a, const char *name);
void aml_device_begin(struct aml *a, const char *name);
/* nargs 0..7; serialized selects Serialized (else NotSerialized). */
void aml_method_begin(struct aml *a, const char *name, unsigned nargs, int serialized);
/* Package with nelems elements (0..255); append the elements next. */
void aml_package_begin(struct aml *a, unsigned nelems);
void aml_buffer_begin(struct aml *a);
/* ResourceTemplate(): a Buffer of descriptors closed by an EndTag. */
void aml_restemplate_begin(struct aml *a);
/* Close the innermost open scope. */
void aml_end(struct aml *a);

/* Resource descriptors (only inside a ResourceTemplate: -EINVAL otherwise). */
void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags(){irq}, irq 0..15. */
void aml_res_irq_noflags(struct aml *a, unsigned irq);
/* Interrupt(..){gsi}: extended interrupt descriptor with one GSI. */
void aml_res_interrupt(struct aml *a, uint8_t flags, uint32_t gsi);
void aml_res_memory32_fixed(struct aml *a, int rw, uint32_t base, uint32_t len);
/* Word/DWord/QWord address space descriptors; values must fit the width. */
void aml_res_word(struct aml *a, const struct aml_addr_space *s);
void aml_res_dword(struct aml *a, const struct aml_addr_space *s);
void aml_res_qword(struct aml *a, const struct aml_addr_space *s);

/* PkgLength encoding of a term whose contents (after the PkgLength) are
 * body_len bytes: writes 1-4 bytes to out and returns the count, or -E2BIG. */
int aml_pkglen_encode(size_t body_len, uint8_t out[4]);

#endif
