/* test_loader: unit tests of the kernel loaders (loader.c, bzimage.c,
 * elfload.c) on fake guest RAM: synthetic bzImages and ELF files generated
 * here (with and without the Xen PVH note, 32- and 64-bit, corrupt ones), and
 * Debian's real kernel fetched by tests/fetch-debian-kernel.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"
#include "gmem.h"
#include "loader.h"

#define RAM_SIZE     (64 * MiB)
#define ZP           X86_ZERO_PAGE_GPA
#define PVH          X86_PVH_INFO_GPA
#define DEBIAN_SCRIPT "tests/fetch-debian-kernel.sh"

struct fx {
	char dir[64];
	char kpath[128];
	char ipath[128];
	uint8_t *ram;
	size_t ram_size;
	int ram_mmapped;
	struct gmem gm;
	struct e820_entry e820[4];
	struct loader_args args;
	struct boot_entry out;
};

/* ---------- little-endian helpers ---------- */

static void put(uint8_t *p, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = size; i > 0; i--)
		v = (v << 8) | p[i - 1];
	return v;
}

static uint64_t zp(const struct fx *f, unsigned off, unsigned size)
{
	return get(f->ram + ZP + off, size);
}

static int all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

static uint8_t pattern(size_t i, unsigned seed)
{
	return (uint8_t)((i * 7 + seed + (i >> 9)) & 0xFF);
}

/* ---------- fixture ---------- */

static void fx_ram(struct fx *f, size_t size, int lazy)
{
	f->ram_size = size;
	f->ram_mmapped = lazy;
	if (lazy) {
		f->ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		assert_true(f->ram != MAP_FAILED);
	} else {
		f->ram = calloc(1, size);
		assert_non_null(f->ram);
	}
	memset(&f->gm, 0, sizeof(f->gm));
	assert_int_equal(gmem_add_region(&f->gm, 0, size, f->ram), 0);
	f->e820[0] = (struct e820_entry){ 0, X86_LOW_RAM_END, E820_RAM };
	f->e820[1] = (struct e820_entry){ X86_LOW_RAM_END, 0x100000 - X86_LOW_RAM_END,
					  E820_RESERVED };
	f->e820[2] = (struct e820_entry){ 0x100000, size - 0x100000, E820_RAM };
	f->args.e820 = f->e820;
	f->args.ne820 = 3;
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vmkit-test-loader-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->kpath, sizeof(f->kpath), "%s/kernel", f->dir);
	snprintf(f->ipath, sizeof(f->ipath), "%s/initrd", f->dir);
	fx_ram(f, RAM_SIZE, 0);
	f->args.kernel_path = f->kpath;
	f->args.rsdp_gpa = X86_ACPI_GPA;
	f->args.initrd_max = X86_RAM_LOW_MAX;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->kpath);
	unlink(f->ipath);
	rmdir(f->dir);
	if (f->ram_mmapped)
		munmap(f->ram, f->ram_size);
	else
		free(f->ram);
	free(f);
	return 0;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(util_write_all(fd, buf, len), 0);
	close(fd);
}

static void write_initrd(struct fx *f, size_t len)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(i, 99);
	write_file(f->ipath, buf, len);
	free(buf);
	f->args.initrd_path = f->ipath;
}

static void check_initrd_content(const struct fx *f, uint64_t gpa, size_t len)
{
	for (size_t i = 0; i < len; i += 511)
		assert_int_equal(f->ram[gpa + i], pattern(i, 99));
	assert_int_equal(f->ram[gpa + len - 1], pattern(len - 1, 99));
}

/* ---------- synthetic bzImage ---------- */

struct bz_opts {
	uint16_t version;
	uint16_t xloadflags;
	uint8_t setup_sects;   /* header value; 0 means 4 */
	uint8_t hdr_len;       /* byte at 0x201 */
	uint8_t loadflags;
	size_t code_len;
	uint32_t init_size;
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint64_t pref_address;
};

static struct bz_opts bz_default(void)
{
	return (struct bz_opts){
		.version = 0x020F, .xloadflags = 0x1 | 0x2, .setup_sects = 7,
		.hdr_len = 0x6A, .loadflags = 0x01, .code_len = 0x5000,
		.init_size = 0x200000, .cmdline_size = 2047,
		.initrd_addr_max = 0x7FFFFFFF, .kernel_alignment = 0x200000,
		.pref_address = 0x1000000,
	};
}

static size_t bz_code_off(const struct bz_opts *o)
{
	return ((size_t)(o->setup_sects ? o->setup_sects : 4) + 1) * 512;
}

static uint8_t *bz_build(const struct bz_opts *o, size_t *len)
{
	size_t off = bz_code_off(o);
	uint8_t *b = calloc(1, off + o->code_len);

	assert_non_null(b);
	b[0] = 'M';
	b[1] = 'Z';
	b[0x1F1] = o->setup_sects;
	put(b + 0x1F4, o->code_len / 16, 4);
	put(b + 0x1FA, 0x0F01, 2);          /* vid_mode the loader must override */
	put(b + 0x1FE, 0xAA55, 2);
	b[0x200] = 0xEB;
	b[0x201] = o->hdr_len;
	memcpy(b + 0x202, "HdrS", 4);
	put(b + 0x206, o->version, 2);
	b[0x211] = o->loadflags;
	put(b + 0x22C, o->initrd_addr_max, 4);
	put(b + 0x230, o->kernel_alignment, 4);
	b[0x234] = 1;
	put(b + 0x236, o->xloadflags, 2);
	put(b + 0x238, o->cmdline_size, 4);
	put(b + 0x258, o->pref_address, 8);
	put(b + 0x260, o->init_size, 4);
	memset(b + 0x270, 0xEE, 0x20);      /* past the header end: must not be copied */
	for (size_t i = 0; i < o->code_len; i++)
		b[off + i] = pattern(i, 1);
	*len = off + o->code_len;
	return b;
}

static void bz_write(struct fx *f, const struct bz_opts *o)
{
	size_t len;
	uint8_t *b = bz_build(o, &len);

	write_file(f->kpath, b, len);
	free(b);
}

/* ---------- synthetic ELF ---------- */

struct elf_seg_opt {
	uint64_t vaddr, paddr, filesz, memsz;
};

enum note_where { NOTE_NONE, NOTE_SEGMENT, NOTE_SECTION };

struct elf_opts {
	int is64;
	uint64_t entry;
	struct elf_seg_opt seg[3];
	unsigned nseg;
	enum note_where note;
	unsigned desc_size;    /* 4 or 8 (or bogus) */
	uint64_t pvh_entry;
	uint16_t phentsize;    /* 0: correct */
	uint64_t phoff;        /* 0: right after the ELF header */
	uint16_t phnum;        /* 0: as many as needed */
};

#define ELF_NOTE_OFF 0x200u
#define ELF_SHDR_OFF 0x300u
#define ELF_DATA_OFF 0x1000u

/* Two notes: a "Xen" GUEST_OS note, then the PHYS32_ENTRY one. */
static size_t elf_put_notes(uint8_t *p, const struct elf_opts *o)
{
	size_t n = 0;

	put(p + n, 4, 4); put(p + n + 4, 6, 4); put(p + n + 8, 6, 4);
	memcpy(p + n + 12, "Xen", 4);
	memcpy(p + n + 16, "linux", 6);
	n += 12 + 4 + 8;
	put(p + n, 4, 4); put(p + n + 4, o->desc_size, 4); put(p + n + 8, 18, 4);
	memcpy(p + n + 12, "Xen", 4);
	put(p + n + 16, o->pvh_entry, o->desc_size > 8 ? 8 : o->desc_size);
	n += 16 + ALIGN_UP(MIN(o->desc_size, 8), 4);  /* a bogus size runs past the end */
	return n;
}

static void elf_put_ehdr(uint8_t *b, const struct elf_opts *o, unsigned phnum)
{
	unsigned ph = o->is64 ? 56 : 32;

	memcpy(b, "\x7f" "ELF", 4);
	b[4] = o->is64 ? 2 : 1;
	b[5] = 1;
	b[6] = 1;
	put(b + 16, 2, 2);
	put(b + 18, o->is64 ? 62 : 3, 2);
	put(b + 20, 1, 4);
	if (o->is64) {
		put(b + 24, o->entry, 8);
		put(b + 32, o->phoff ? o->phoff : 64, 8);
		put(b + 40, o->note == NOTE_SECTION ? ELF_SHDR_OFF : 0, 8);
		put(b + 52, 64, 2);
		put(b + 54, o->phentsize ? o->phentsize : ph, 2);
		put(b + 56, o->phnum ? o->phnum : phnum, 2);
		put(b + 58, 64, 2);
		put(b + 60, o->note == NOTE_SECTION ? 2 : 0, 2);
	} else {
		put(b + 24, o->entry, 4);
		put(b + 28, o->phoff ? o->phoff : 52, 4);
		put(b + 32, o->note == NOTE_SECTION ? ELF_SHDR_OFF : 0, 4);
		put(b + 40, 52, 2);
		put(b + 42, o->phentsize ? o->phentsize : ph, 2);
		put(b + 44, o->phnum ? o->phnum : phnum, 2);
		put(b + 46, 40, 2);
		put(b + 48, o->note == NOTE_SECTION ? 2 : 0, 2);
	}
}

static void elf_put_phdr(uint8_t *p, int is64, uint32_t type, uint64_t off,
			 const struct elf_seg_opt *s, uint64_t align)
{
	put(p, type, 4);
	if (is64) {
		put(p + 8, off, 8); put(p + 16, s->vaddr, 8); put(p + 24, s->paddr, 8);
		put(p + 32, s->filesz, 8); put(p + 40, s->memsz, 8); put(p + 48, align, 8);
	} else {
		put(p + 4, off, 4); put(p + 8, s->vaddr, 4); put(p + 12, s->paddr, 4);
		put(p + 16, s->filesz, 4); put(p + 20, s->memsz, 4); put(p + 28, align, 4);
	}
}

static void elf_put_shdrs(uint8_t *b, const struct elf_opts *o, size_t note_len)
{
	uint8_t *sh = b + ELF_SHDR_OFF + (o->is64 ? 64 : 40);  /* [0] stays null */
	unsigned w = o->is64 ? 8 : 4;

	put(sh + 4, 7, 4);                          /* SHT_NOTE */
	put(sh + 8 + 2 * w, ELF_NOTE_OFF, w);       /* sh_offset */
	put(sh + 8 + 3 * w, note_len, w);           /* sh_size */
	put(sh + 8 + 4 * w + 8, 4, w);              /* sh_addralign */
}

static uint8_t *elf_build(const struct elf_opts *o, size_t *len)
{
	size_t total = ELF_DATA_OFF, off[3], note_len = 0;
	unsigned ph = o->is64 ? 56 : 32, eh = o->is64 ? 64 : 52, n = 0;
	uint8_t *b;

	for (unsigned i = 0; i < o->nseg; i++) {
		off[i] = total;
		total += ALIGN_UP(o->seg[i].filesz, 16);
	}
	b = calloc(1, total);
	assert_non_null(b);
	if (o->note != NOTE_NONE)
		note_len = elf_put_notes(b + ELF_NOTE_OFF, o);
	for (unsigned i = 0; i < o->nseg; i++) {
		elf_put_phdr(b + eh + n++ * ph, o->is64, 1, off[i], &o->seg[i], 0x1000);
		for (size_t j = 0; j < o->seg[i].filesz && off[i] + j < total; j++)
			b[off[i] + j] = pattern(j, 10 + i);
	}
	if (o->note == NOTE_SEGMENT) {
		struct elf_seg_opt ns = { 0, 0, note_len, note_len };

		elf_put_phdr(b + eh + n++ * ph, o->is64, 4, ELF_NOTE_OFF, &ns, 4);
	}
	if (o->note == NOTE_SECTION)
		elf_put_shdrs(b, o, note_len);
	elf_put_ehdr(b, o, n);
	*len = total;
	return b;
}

static struct elf_opts elf_default(int is64, enum note_where note)
{
	return (struct elf_opts){
		.is64 = is64, .entry = 0x200100, .nseg = 2,
		.seg = { { 0x200000, 0x200000, 0x3000, 0x3000 },
			 { 0x400000, 0x400000, 0x800, 0x5000 } },
		.note = note, .desc_size = is64 ? 8 : 4, .pvh_entry = 0x200040,
	};
}

static void elf_write(struct fx *f, const struct elf_opts *o)
{
	size_t len;
	uint8_t *b = elf_build(o, &len);

	write_file(f->kpath, b, len);
	free(b);
}

/* ---------- probe ---------- */

static void test_probe(void **state)
{
	uint8_t buf[0x300] = { 0 };

	(void)state;
	assert_int_equal(loader_probe(buf, sizeof(buf)), KERNEL_FMT_UNKNOWN);
	assert_int_equal(loader_probe(NULL, 0), KERNEL_FMT_UNKNOWN);
	buf[0x1FE] = 0x55;
	buf[0x1FF] = 0xAA;
	assert_int_equal(loader_probe(buf, sizeof(buf)), KERNEL_FMT_UNKNOWN);
	memcpy(buf + 0x202, "HdrS", 4);
	assert_int_equal(loader_probe(buf, sizeof(buf)), KERNEL_FMT_BZIMAGE);
	assert_int_equal(loader_probe(buf, 0x206), KERNEL_FMT_BZIMAGE);
	assert_int_equal(loader_probe(buf, 0x205), KERNEL_FMT_UNKNOWN);
	buf[0x1FF] = 0xAB;
	assert_int_equal(loader_probe(buf, sizeof(buf)), KERNEL_FMT_UNKNOWN);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "\x7f" "ELF", 4);
	assert_int_equal(loader_probe(buf, 4), KERNEL_FMT_ELF);
	assert_int_equal(loader_probe(buf, 3), KERNEL_FMT_UNKNOWN);
	buf[3] = 'f';
	assert_int_equal(loader_probe(buf, sizeof(buf)), KERNEL_FMT_UNKNOWN);
}

/* ---------- bzImage ---------- */

/* The zero page's e820 table holds the fixture's map, 20 bytes an entry. */
static void check_bp_e820(const struct fx *f)
{
	assert_int_equal(zp(f, 0x1E8, 1), f->args.ne820);
	for (unsigned i = 0; i < f->args.ne820; i++) {
		assert_int_equal(zp(f, 0x2D0 + 20 * i, 8), f->e820[i].addr);
		assert_int_equal(zp(f, 0x2D0 + 20 * i + 8, 8), f->e820[i].size);
		assert_int_equal(zp(f, 0x2D0 + 20 * i + 16, 4), f->e820[i].type);
	}
	assert_true(all_zero(f->ram + ZP + 0x2D0 + 20 * f->args.ne820, 20));
}

static void test_bz_basic(void **state)
{
	struct fx *f = *state;
	struct bz_opts o = bz_default();
	size_t ilen = 0x12345;
	uint64_t img;

	bz_write(f, &o);
	write_initrd(f, ilen);
	f->args.cmdline = "console=ttyS0 quiet";
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_LONG64);
	assert_int_equal(f->out.rip, X86_KERNEL_GPA + 0x200);
	assert_int_equal(f->out.rsi, ZP);
	/* protected-mode code copied at 1 MiB */
	for (size_t i = 0; i < o.code_len; i += 97)
		assert_int_equal(f->ram[X86_KERNEL_GPA + i], pattern(i, 1));
	/* setup header copied from the file, then adjusted */
	assert_int_equal(zp(f, 0x1F1, 1), 7);
	assert_int_equal(zp(f, 0x1FE, 2), 0xAA55);
	assert_memory_equal(f->ram + ZP + 0x202, "HdrS", 4);
	assert_int_equal(zp(f, 0x206, 2), 0x020F);
	assert_int_equal(zp(f, 0x1FA, 2), 0xFFFF);
	assert_int_equal(zp(f, 0x210, 1), 0xFF);
	assert_int_equal(zp(f, 0x211, 1), 0x81);          /* LOADED_HIGH kept + CAN_USE_HEAP */
	assert_int_equal(zp(f, 0x224, 2), 0xFE00);
	assert_int_equal(zp(f, 0x228, 4), X86_CMDLINE_GPA);
	assert_int_equal(zp(f, 0x22C, 4), 0x7FFFFFFF);
	assert_int_equal(zp(f, 0x230, 4), 0x200000);
	assert_int_equal(zp(f, 0x234, 1), 1);
	assert_int_equal(zp(f, 0x236, 2), 3);
	assert_int_equal(zp(f, 0x238, 4), 2047);
	assert_int_equal(zp(f, 0x258, 8), 0x1000000);
	assert_int_equal(zp(f, 0x260, 4), 0x200000);
	assert_int_equal(zp(f, 0x070, 8), X86_ACPI_GPA);
	assert_int_equal(zp(f, 0x1EF, 1), 0);              /* sentinel */
	assert_true(all_zero(f->ram + ZP + 0x26C, 0x2D0 - 0x26C)); /* not past the header */
	assert_true(all_zero(f->ram + ZP, 0x70));
	check_bp_e820(f);
	/* command line */
	assert_string_equal((char *)f->ram + X86_CMDLINE_GPA, "console=ttyS0 quiet");
	/* initrd: as high as possible in RAM, page aligned */
	img = zp(f, 0x218, 4);
	assert_int_equal(zp(f, 0x21C, 4), ilen);
	assert_int_equal(img % 4096, 0);
	assert_int_equal(img, ALIGN_DOWN(RAM_SIZE - ilen, 4096));
	check_initrd_content(f, img, ilen);
}

static void test_bz_no_initrd_no_cmdline(void **state)
{
	struct fx *f = *state;
	struct bz_opts o = bz_default();

	o.loadflags = 0;     /* not LOADED_HIGH: the loader must not invent it */
	bz_write(f, &o);
	memset(f->ram + X86_CMDLINE_GPA, 'x', 16);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(zp(f, 0x211, 1), 0x80);
	assert_int_equal(zp(f, 0x218, 4), 0);
	assert_int_equal(zp(f, 0x21C, 4), 0);
	assert_int_equal(f->ram[X86_CMDLINE_GPA], 0);
	assert_int_equal(zp(f, 0x228, 4), X86_CMDLINE_GPA);
}

static void test_bz_setup_sects_zero(void **state)
{
	struct fx *f = *state;
	struct bz_opts o = bz_default();

	o.setup_sects = 0;   /* means 4: code at 5 * 512 */
	bz_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(f->ram[X86_KERNEL_GPA], pattern(0, 1));
	assert_int_equal(f->ram[X86_KERNEL_GPA + 1000], pattern(1000, 1));
	assert_int_equal(f->ram[X86_KERNEL_GPA + o.code_len - 1], pattern(o.code_len - 1, 1));
	assert_int_equal(f->ram[X86_KERNEL_GPA + o.code_len], 0);
}

static void test_bz_initrd_limits(void **state)
{
	struct fx *f = *state;
	struct bz_opts o = bz_default();
	size_t ilen = 3 * 4096 + 5;
	uint64_t img;

	/* the kernel's initrd_addr_max caps the placement */
	o.initrd_addr_max = 32 * MiB - 1;
	bz_write(f, &o);
	write_initrd(f, ilen);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	img = zp(f, 0x218, 4);
	assert_int_equal(img, ALIGN_DOWN(32 * MiB - ilen, 4096));
	check_initrd_content(f, img, ilen);

	/* so does args->initrd_max */
	f->args.initrd_max = 20 * MiB;
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(zp(f, 0x218, 4), ALIGN_DOWN(20 * MiB - ilen, 4096));

	/* and the e820 map: RAM ends at 24 MiB, above is reserved */
	f->args.initrd_max = X86_RAM_LOW_MAX;
	o.initrd_addr_max = 0xFFFFFFFF;
	bz_write(f, &o);
	f->e820[2].size = 24 * MiB - 0x100000;
	f->e820[3] = (struct e820_entry){ 24 * MiB, RAM_SIZE - 24 * MiB, E820_RESERVED };
	f->args.ne820 = 4;
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(zp(f, 0x218, 4), ALIGN_DOWN(24 * MiB - ilen, 4096));
	check_bp_e820(f);
}

/* Several RAM ranges can hold the initrd: the highest one wins, whatever the
 * order of the e820 entries. */
static void test_initrd_highest_range(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = elf_default(1, NOTE_SEGMENT);
	size_t ilen = 0x4000;

	elf_write(f, &o);
	write_initrd(f, ilen);
	f->e820[0] = (struct e820_entry){ 33 * MiB, RAM_SIZE - 33 * MiB - 0x10000, E820_RAM };
	f->e820[1] = (struct e820_entry){ 0x100000, 31 * MiB, E820_RAM };
	f->e820[2] = (struct e820_entry){ 32 * MiB, MiB, E820_RESERVED };
	f->e820[3] = (struct e820_entry){ 0, X86_LOW_RAM_END, E820_RAM };
	f->args.ne820 = 4;
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(get(f->ram + get(f->ram + PVH + 16, 8), 8),
			 RAM_SIZE - 0x10000 - ilen);
	/* below a limit inside the reserved gap, the lower range is used */
	f->args.initrd_max = 32 * MiB + 0x8000;
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(get(f->ram + get(f->ram + PVH + 16, 8), 8), 32 * MiB - ilen);
}

static void test_bz_initrd_too_big(void **state)
{
	struct fx *f = *state;
	struct bz_opts o = bz_default();

	bz_write(f, &o);
	/* RAM is 64 MiB; kernel needs up to 16 MiB + init_size = 18 MiB */
	write_initrd(f, 47 * MiB);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -E2BIG);
	assert_true(all_zero(f->ram + ZP, 4096));
	assert_true(all_zero(f->ram + X86_KERNEL_GPA, 4096));
	/* 46 MiB fits exactly between 18 MiB and 64 MiB */
	write_initrd(f, 46 * MiB);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(zp(f, 0x218, 4), 18 * MiB);
	/* initrd_max below the kernel's end: nowhere to go */
	write_initrd(f, 4096);
	f->args.initrd_max = 17 * MiB;
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -E2BIG);
}

static void test_bz_refuses_old_protocol(void **state)
{
	struct fx *f = *state;
	struct bz_opts o = bz_default();

	o.version = 0x020B;
	bz_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	o.version = 0x0204;
	bz_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	o.version = 0x020C;
	bz_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
}

static void test_bz_refuses_no_kernel64(void **state)
{
	struct fx *f = *state;
	struct bz_opts o = bz_default();

	o.xloadflags = 0x2;
	bz_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	assert_true(all_zero(f->ram + ZP, 4096));
}

static void test_bz_truncated(void **state)
{
	struct fx *f = *state;
	struct bz_opts o = bz_default();
	size_t len;
	uint8_t *b = bz_build(&o, &len);

	/* shorter than the setup sectors */
	write_file(f->kpath, b, bz_code_off(&o) - 100);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	/* exactly the setup, no code */
	write_file(f->kpath, b, bz_code_off(&o));
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	/* shorter than the setup header (but "HdrS" is there) */
	write_file(f->kpath, b, 0x230);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	/* code shorter than syssize says */
	write_file(f->kpath, b, len - 32);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	assert_true(all_zero(f->ram + ZP, 4096));
	write_file(f->kpath, b, len);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	free(b);
}

static void test_bz_corrupt_header(void **state)
{
	struct fx *f = *state;
	struct bz_opts o = bz_default();

	o.hdr_len = 0x40;          /* header ends at 0x242, before init_size */
	bz_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	o = bz_default();
	o.kernel_alignment = 0x300000;
	bz_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	o.kernel_alignment = 0;
	bz_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
}

static void test_bz_cmdline_too_long(void **state)
{
	struct fx *f = *state;
	struct bz_opts o = bz_default();
	char line[202];

	o.cmdline_size = 100;      /* bytes without the NUL */
	bz_write(f, &o);
	memset(line, 'a', sizeof(line));
	line[101] = '\0';
	f->args.cmdline = line;
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -E2BIG);
	assert_true(all_zero(f->ram + X86_CMDLINE_GPA, 256));
	line[100] = '\0';
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(strlen((char *)f->ram + X86_CMDLINE_GPA), 100);
}

static void test_bz_kernel_too_big(void **state)
{
	struct fx *f = *state;
	struct bz_opts o = bz_default();

	o.init_size = 60 * MiB;    /* runs at 16 MiB: needs up to 76 MiB */
	bz_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOMEM);
	assert_true(all_zero(f->ram + X86_KERNEL_GPA, 4096));
	o.init_size = 48 * MiB;    /* exactly up to 64 MiB */
	bz_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
}

/* ---------- ELF ---------- */

static void check_elf_segments(const struct fx *f, const struct elf_opts *o)
{
	for (unsigned i = 0; i < o->nseg; i++) {
		const struct elf_seg_opt *s = &o->seg[i];

		for (size_t j = 0; j < s->filesz; j += 37)
			assert_int_equal(f->ram[s->paddr + j], pattern(j, 10 + i));
		assert_true(all_zero(f->ram + s->paddr + s->filesz, s->memsz - s->filesz));
	}
}

static void prefill_segments(struct fx *f, const struct elf_opts *o)
{
	for (unsigned i = 0; i < o->nseg; i++)
		memset(f->ram + o->seg[i].paddr, 0xAA, o->seg[i].memsz + 0x100);
}

static void check_pvh_memmap(const struct fx *f)
{
	const uint8_t *si = f->ram + PVH;
	uint64_t mm = get(si + 40, 8);

	assert_true(mm >= PVH + 56 && mm + 3 * 24 <= PVH + X86_PVH_INFO_SIZE);
	assert_int_equal(get(si + 48, 4), 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(get(f->ram + mm + 24 * i, 8), f->e820[i].addr);
		assert_int_equal(get(f->ram + mm + 24 * i + 8, 8), f->e820[i].size);
		assert_int_equal(get(f->ram + mm + 24 * i + 16, 4), f->e820[i].type);
		assert_int_equal(get(f->ram + mm + 24 * i + 20, 4), 0);
	}
}

static void test_pvh_elf64(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = elf_default(1, NOTE_SEGMENT);
	const uint8_t *si = f->ram + PVH;
	size_t ilen = 10000;
	uint64_t mod, img;

	elf_write(f, &o);
	write_initrd(f, ilen);
	f->args.cmdline = "root=/dev/vda";
	prefill_segments(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_PVH32);
	assert_int_equal(f->out.rip, 0x200040);
	assert_int_equal(f->out.rbx, PVH);
	check_elf_segments(f, &o);
	assert_int_equal(get(si, 4), 0x336EC578);
	assert_int_equal(get(si + 4, 4), 1);
	assert_int_equal(get(si + 8, 4), 0);
	assert_int_equal(get(si + 12, 4), 1);
	assert_int_equal(get(si + 24, 8), X86_CMDLINE_GPA);
	assert_int_equal(get(si + 32, 8), X86_ACPI_GPA);
	assert_string_equal((char *)f->ram + X86_CMDLINE_GPA, "root=/dev/vda");
	check_pvh_memmap(f);
	mod = get(si + 16, 8);
	assert_true(mod >= PVH + 56 && mod + 32 <= PVH + X86_PVH_INFO_SIZE);
	img = get(f->ram + mod, 8);
	assert_int_equal(get(f->ram + mod + 8, 8), ilen);
	assert_int_equal(get(f->ram + mod + 16, 8), 0);
	assert_int_equal(img, ALIGN_DOWN(RAM_SIZE - ilen, 4096));
	assert_true(img >= 0x405000);
	check_initrd_content(f, img, ilen);
	assert_true(all_zero(f->ram + ZP, 4096));   /* PVH: no zero page */
}

static void test_pvh_elf64_desc4_no_initrd(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = elf_default(1, NOTE_SEGMENT);
	const uint8_t *si = f->ram + PVH;

	o.desc_size = 4;
	o.pvh_entry = 0x401000;     /* inside the second segment's bss */
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_PVH32);
	assert_int_equal(f->out.rip, 0x401000);
	assert_int_equal(get(si, 4), 0x336EC578);
	assert_int_equal(get(si + 12, 4), 0);   /* nr_modules */
	assert_int_equal(get(si + 16, 8), 0);   /* modlist_paddr */
	assert_int_equal(get(si + 24, 8), 0);   /* no cmdline */
	check_pvh_memmap(f);
}

static void test_pvh_elf32(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = elf_default(0, NOTE_SEGMENT);

	elf_write(f, &o);
	write_initrd(f, 5000);
	prefill_segments(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_PVH32);
	assert_int_equal(f->out.rip, 0x200040);
	check_elf_segments(f, &o);
	assert_int_equal(get(f->ram + PVH + 12, 4), 1);
	check_pvh_memmap(f);
	/* without the note a 32-bit ELF has no way in */
	o.note = NOTE_NONE;
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
}

static void test_pvh_note_in_section(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = elf_default(1, NOTE_SECTION);

	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_PVH32);
	assert_int_equal(f->out.rip, 0x200040);
}

static void test_pvh_bad_note(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = elf_default(1, NOTE_SEGMENT);

	o.desc_size = 2;                   /* neither 4 nor 8 */
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	o.desc_size = 0x1000;              /* runs past the note segment */
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	o.desc_size = 8;
	o.pvh_entry = 0x100200040ULL;      /* a 32-bit entry above 4 GiB */
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	o.pvh_entry = 0x900000;            /* not inside any segment */
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	assert_true(all_zero(f->ram + PVH, X86_PVH_INFO_SIZE));
	assert_true(all_zero(f->ram + 0x200000, 0x1000));
}

static void test_elf64_long_mode(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = elf_default(1, NOTE_NONE);
	size_t ilen = 8192;
	uint64_t img;

	elf_write(f, &o);
	write_initrd(f, ilen);
	f->args.cmdline = "console=hvc0";
	f->args.initrd_max = 48 * MiB;
	prefill_segments(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_LONG64);
	assert_int_equal(f->out.rip, 0x200100);
	assert_int_equal(f->out.rsi, ZP);
	check_elf_segments(f, &o);
	assert_int_equal(zp(f, 0x1FE, 2), 0xAA55);
	assert_memory_equal(f->ram + ZP + 0x202, "HdrS", 4);
	assert_true(zp(f, 0x206, 2) >= 0x020C);
	assert_int_equal(zp(f, 0x210, 1), 0xFF);
	assert_int_equal(zp(f, 0x228, 4), X86_CMDLINE_GPA);
	assert_string_equal((char *)f->ram + X86_CMDLINE_GPA, "console=hvc0");
	assert_int_equal(zp(f, 0x070, 8), X86_ACPI_GPA);
	check_bp_e820(f);
	img = zp(f, 0x218, 4);
	assert_int_equal(zp(f, 0x21C, 4), ilen);
	assert_int_equal(img, 48 * MiB - ilen);
	check_initrd_content(f, img, ilen);
	assert_true(all_zero(f->ram + PVH, X86_PVH_INFO_SIZE));
}

static void test_elf64_high_entry(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = elf_default(1, NOTE_NONE);

	/* vmlinux style: high virtual addresses, low physical ones */
	o.seg[0].vaddr = 0xFFFFFFFF81000000ULL;
	o.seg[0].paddr = 0x1000000;
	o.seg[1].vaddr = 0xFFFFFFFF82000000ULL;
	o.seg[1].paddr = 0x2000000;
	o.entry = 0xFFFFFFFF82000123ULL;
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_LONG64);
	assert_int_equal(f->out.rip, 0x2000123);
	assert_int_equal(f->ram[0x1000000 + 5], pattern(5, 10));
	/* a physical e_entry is taken as is */
	o.entry = 0x1000040;
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(f->out.rip, 0x1000040);
	/* an entry nowhere */
	o.entry = 0xFFFFFFFF90000000ULL;
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
}

static void test_elf_segment_past_ram(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = elf_default(1, NOTE_SEGMENT);

	o.seg[1].paddr = RAM_SIZE - 0x1000;     /* memsz 0x5000 crosses the end */
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOMEM);
	o.seg[1].paddr = RAM_SIZE;
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOMEM);
	o.seg[1].paddr = 0x400000;
	o.seg[1].memsz = UINT64_MAX - 0x1000;   /* wraps around */
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOMEM);
	assert_true(all_zero(f->ram + 0x200000, 0x3000));  /* nothing copied */
	assert_true(all_zero(f->ram + PVH, X86_PVH_INFO_SIZE));
	o.seg[1].memsz = 0x5000;
	o.seg[1].paddr = 0x8000;                /* over the boot structures */
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
}

static void test_elf_bad_headers(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = elf_default(1, NOTE_SEGMENT);

	o.phoff = 0x7FFFFFF0;                   /* program headers outside the file */
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	o.phoff = UINT64_MAX - 8;               /* and overflowing */
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	o.phoff = 0;
	o.phnum = 0xFFFF;                       /* more headers than the file holds */
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	o.phnum = 0;
	o.phentsize = 40;
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	o.phentsize = 0;
	o.seg[0].filesz = 0x100000;             /* segment data past the end of file */
	o.seg[0].memsz = 0x100000;
	{
		size_t len;
		uint8_t *b = elf_build(&o, &len);

		write_file(f->kpath, b, 0x2000);    /* cut the file short */
		free(b);
	}
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	o.seg[0].filesz = 0x3000;
	o.seg[0].memsz = 0x2000;                /* filesz > memsz */
	elf_write(f, &o);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	assert_true(all_zero(f->ram + 0x200000, 0x3000));
}

static void test_elf_bad_ident(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = elf_default(1, NOTE_NONE);
	size_t len;
	uint8_t *b = elf_build(&o, &len);

	write_file(f->kpath, b, 40);            /* truncated ELF header */
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	b[4] = 3;                               /* bad class */
	write_file(f->kpath, b, len);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	b[4] = 2;
	b[5] = 2;                               /* big endian */
	write_file(f->kpath, b, len);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	b[5] = 1;
	put(b + 18, 183, 2);                    /* aarch64 */
	write_file(f->kpath, b, len);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	put(b + 18, 62, 2);
	put(b + 16, 3, 2);                      /* ET_DYN */
	write_file(f->kpath, b, len);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	put(b + 16, 2, 2);
	write_file(f->kpath, b, len);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	free(b);
}

static void test_elf_cmdline_limit(void **state)
{
	struct fx *f = *state;
	char line[2049];

	memset(line, 'c', sizeof(line));
	line[2048] = '\0';                      /* 2048 + NUL: one too many */
	f->args.cmdline = line;
	for (int note = 0; note < 2; note++) {
		struct elf_opts o = elf_default(1, note ? NOTE_SEGMENT : NOTE_NONE);

		elf_write(f, &o);
		line[2048] = '\0';
		assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -E2BIG);
		line[2047] = '\0';
		assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
		assert_int_equal(strlen((char *)f->ram + X86_CMDLINE_GPA), 2047);
		line[2047] = 'c';
	}
}

static void test_elf_initrd_too_big(void **state)
{
	struct fx *f = *state;
	struct elf_opts o = elf_default(1, NOTE_SEGMENT);

	elf_write(f, &o);
	write_initrd(f, RAM_SIZE - 0x405000 + 1);  /* one byte more than above the kernel */
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -E2BIG);
	assert_true(all_zero(f->ram + PVH, X86_PVH_INFO_SIZE));
	write_initrd(f, RAM_SIZE - 0x405000);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(get(f->ram + get(f->ram + PVH + 16, 8), 8), 0x405000);
}

/* ---------- files ---------- */

static void test_file_errors(void **state)
{
	struct fx *f = *state;
	static const char junk[] = "#!/bin/sh\necho this is not a kernel\n";
	struct bz_opts o = bz_default();

	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOENT);
	write_file(f->kpath, "", 0);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	write_file(f->kpath, junk, sizeof(junk));
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOEXEC);
	f->args.kernel_path = f->dir;           /* a directory */
	assert_true(loader_load(&f->gm, &f->args, &f->out) < 0);
	f->args.kernel_path = f->kpath;
	bz_write(f, &o);
	f->args.initrd_path = "/nonexistent/vmkit-initrd";
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -ENOENT);
	write_file(f->ipath, "", 0);
	f->args.initrd_path = f->ipath;
	assert_true(loader_load(&f->gm, &f->args, &f->out) < 0);
	f->args.initrd_path = NULL;
	f->args.ne820 = 0;
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), -EINVAL);
	f->args.ne820 = 3;
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(loader_load(NULL, &f->args, &f->out), -EINVAL);
	assert_true(all_zero(f->ram + PVH, X86_PVH_INFO_SIZE));
}

/* ---------- Debian's real kernel ---------- */

static const char *debian_path(const char *var, const char *file)
{
	const char *p = getenv(var);

	if (!p || !*p || access(p, R_OK) != 0)
		fail_msg("%s is %s: run %s and export %s=<its output>/%s", var,
			 p && *p ? "not a readable file" : "not set", DEBIAN_SCRIPT, var, file);
	return p;
}

static void debian_ram(struct fx *f)
{
	free(f->ram);
	fx_ram(f, 512 * MiB, 1);
}

static void test_debian_vmlinuz(void **state)
{
	struct fx *f = *state;
	const char *path = debian_path("VMKIT_DEBIAN_VMLINUZ", "vmlinuz");
	uint8_t *k;
	size_t klen, off;
	uint64_t img, end;

	assert_int_equal(util_read_file(path, 512 * MiB, &k, &klen), 0);
	assert_int_equal(loader_probe(k, klen), KERNEL_FMT_BZIMAGE);
	assert_true(get(k + 0x206, 2) >= 0x020C);
	assert_true(get(k + 0x236, 2) & 1);         /* XLF_KERNEL_64 */
	assert_int_equal(k[0x234], 1);              /* relocatable */
	debian_ram(f);
	f->args.kernel_path = path;
	f->args.cmdline = "console=ttyS0 panic=-1";
	f->args.initrd_max = 512 * MiB;
	write_initrd(f, 3 * MiB + 17);
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_LONG64);
	assert_int_equal(f->out.rip, 0x100200);
	assert_int_equal(f->out.rsi, ZP);
	off = ((size_t)(k[0x1F1] ? k[0x1F1] : 4) + 1) * 512;
	assert_memory_equal(f->ram + X86_KERNEL_GPA, k + off, 4096);
	assert_memory_equal(f->ram + X86_KERNEL_GPA + (klen - off) - 4096, k + klen - 4096, 4096);
	assert_memory_equal(f->ram + ZP + 0x202, "HdrS", 4);
	assert_int_equal(zp(f, 0x206, 2), get(k + 0x206, 2));
	assert_int_equal(zp(f, 0x260, 4), get(k + 0x260, 4));
	assert_int_equal(zp(f, 0x210, 1), 0xFF);
	assert_true(zp(f, 0x211, 1) & 0x80);
	assert_int_equal(zp(f, 0x228, 4), X86_CMDLINE_GPA);
	assert_string_equal((char *)f->ram + X86_CMDLINE_GPA, "console=ttyS0 panic=-1");
	check_bp_e820(f);
	img = zp(f, 0x218, 4);
	end = MAX(get(k + 0x258, 8), 0x200000) + get(k + 0x260, 4);
	assert_int_equal(img % 4096, 0);
	assert_true(img >= end);                    /* above the decompressed kernel */
	assert_int_equal(img, ALIGN_DOWN(512 * MiB - (3 * MiB + 17), 4096));
	check_initrd_content(f, img, 3 * MiB + 17);
	free(k);
}

/* Find the Xen PHYS32_ENTRY note by brute force (independent of elfload). */
static int debian_pvh_note(const uint8_t *k, size_t len, uint64_t *entry)
{
	static const uint8_t hdr8[] = { 4, 0, 0, 0, 8, 0, 0, 0, 18, 0, 0, 0, 'X', 'e', 'n', 0 };
	static const uint8_t hdr4[] = { 4, 0, 0, 0, 4, 0, 0, 0, 18, 0, 0, 0, 'X', 'e', 'n', 0 };

	for (size_t i = 0; i + 24 <= len; i += 4) {
		if (memcmp(k + i, hdr8, 16) == 0) {
			*entry = get(k + i + 16, 8);
			return 1;
		}
		if (memcmp(k + i, hdr4, 16) == 0) {
			*entry = get(k + i + 16, 4);
			return 1;
		}
	}
	return 0;
}

static void test_debian_vmlinux(void **state)
{
	struct fx *f = *state;
	const char *path = debian_path("VMKIT_DEBIAN_VMLINUX", "vmlinux");
	uint8_t *k;
	size_t klen;
	uint64_t pvh = 0, phoff, off0, pa0, fsz0;

	assert_int_equal(util_read_file(path, 512 * MiB, &k, &klen), 0);
	assert_int_equal(loader_probe(k, klen), KERNEL_FMT_ELF);
	/* Debian builds with CONFIG_PVH=y: the note is there */
	assert_true(debian_pvh_note(k, klen, &pvh));
	debian_ram(f);
	f->args.kernel_path = path;
	f->args.cmdline = "console=hvc0";
	assert_int_equal(loader_load(&f->gm, &f->args, &f->out), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_PVH32);
	assert_int_equal(f->out.rip, pvh);
	assert_true(pvh >= 0x1000000 && pvh < 0x4000000);
	assert_int_equal(f->out.rbx, PVH);
	assert_int_equal(get(f->ram + PVH, 4), 0x336EC578);
	assert_int_equal(get(f->ram + PVH + 24, 8), X86_CMDLINE_GPA);
	check_pvh_memmap(f);
	/* first PT_LOAD copied to its physical address */
	phoff = get(k + 32, 8);
	off0 = get(k + phoff + 8, 8);
	pa0 = get(k + phoff + 24, 8);
	fsz0 = get(k + phoff + 32, 8);
	assert_memory_equal(f->ram + pa0, k + off0, 4096);
	assert_memory_equal(f->ram + pa0 + fsz0 - 4096, k + off0 + fsz0 - 4096, 4096);
	free(k);
}

static void test_debian_vmlinux_long_mode(void **state)
{
	struct fx *f = *state;
	const char *path = debian_path("VMKIT_DEBIAN_VMLINUX", "vmlinux");
	uint8_t *k;
	size_t klen;
	uint64_t pvh, entry, phoff, va0, pa0;

	assert_int_equal(util_read_file(path, 512 * MiB, &k, &klen), 0);
	assert_true(debian_pvh_note(k, klen, &pvh));
	for (size_t i = 0; i + 24 <= klen; i += 4)   /* hide the PVH note */
		if (memcmp(k + i + 8, "\x12\0\0\0Xen", 8) == 0 && get(k + i, 4) == 4)
			put(k + i + 8, 0x7FFF, 4);
	debian_ram(f);
	f->args.kernel_path = path;
	entry = get(k + 24, 8);
	assert_int_equal(elfload_load(&f->gm, k, klen, &f->args, NULL, 0, &f->out), 0);
	assert_int_equal(f->out.mode, BOOT_MODE_LONG64);
	assert_int_equal(f->out.rsi, ZP);
	phoff = get(k + 32, 8);
	va0 = get(k + phoff + 16, 8);
	pa0 = get(k + phoff + 24, 8);
	if (entry >= va0)   /* a virtual e_entry is translated through its segment */
		assert_int_equal(f->out.rip, entry - va0 + pa0);
	else
		assert_int_equal(f->out.rip, entry);
	/* and a virtual one certainly is */
	put(k + 24, va0 + 0x40, 8);
	assert_int_equal(elfload_load(&f->gm, k, klen, &f->args, NULL, 0, &f->out), 0);
	assert_int_equal(f->out.rip, pa0 + 0x40);
	assert_int_equal(zp(f, 0x1FE, 2), 0xAA55);
	assert_int_equal(zp(f, 0x228, 4), X86_CMDLINE_GPA);
	free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
		cmocka_unit_test(test_probe),
		T(test_bz_basic),
		T(test_bz_no_initrd_no_cmdline),
		T(test_bz_setup_sects_zero),
		T(test_bz_initrd_limits),
		T(test_bz_initrd_too_big),
		T(test_initrd_highest_range),
		T(test_bz_refuses_old_protocol),
		T(test_bz_refuses_no_kernel64),
		T(test_bz_truncated),
		T(test_bz_corrupt_header),
		T(test_bz_cmdline_too_long),
		T(test_bz_kernel_too_big),
		T(test_pvh_elf64),
		T(test_pvh_elf64_desc4_no_initrd),
		T(test_pvh_elf32),
		T(test_pvh_note_in_section),
		T(test_pvh_bad_note),
		T(test_elf64_long_mode),
		T(test_elf64_high_entry),
		T(test_elf_segment_past_ram),
		T(test_elf_bad_headers),
		T(test_elf_bad_ident),
		T(test_elf_cmdline_limit),
		T(test_elf_initrd_too_big),
		T(test_file_errors),
		T(test_debian_vmlinuz),
		T(test_debian_vmlinux),
		T(test_debian_vmlinux_long_mode),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
