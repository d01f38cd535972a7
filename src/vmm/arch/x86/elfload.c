/* elfload: loads an ELF kernel (ELF64 x86-64, or ELF32 i386 with a PVH note):
 * validates headers and segments, copies PT_LOAD segments to their physical
 * addresses, then either enters through the Xen PVH note (XEN_ELFNOTE_PHYS32_ENTRY,
 * hvm_start_info at X86_PVH_INFO_GPA) or through e_entry in 64-bit mode with a
 * zero page at X86_ZERO_PAGE_GPA. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "gmem.h"
#include "loader.h"
#include "loader_priv.h"

#define ELF_CLASS32        1
#define ELF_CLASS64        2
#define ELF_DATA_LSB       1
#define ELF_VERSION_CUR    1
#define ELF_ET_EXEC        2
#define ELF_EM_386         3
#define ELF_EM_X86_64      62
#define ELF_PT_LOAD        1
#define ELF_PT_NOTE        4
#define ELF_SHT_NOTE       7
#define ELF_EHDR64_SIZE    64u
#define ELF_EHDR32_SIZE    52u
#define ELF_PHDR64_SIZE    56u
#define ELF_PHDR32_SIZE    32u
#define ELF_SHDR64_SIZE    64u
#define ELF_SHDR32_SIZE    40u
#define ELF_NOTE_HDR       12u
#define XEN_ELFNOTE_PHYS32_ENTRY 18u

/* hvm_start_info ABI (version 1) */
#define PVH_MAGIC          0x336EC578u
#define PVH_VERSION        1u
#define PVH_MODLIST_OFF    0x40u   /* layout inside the X86_PVH_INFO page */
#define PVH_MEMMAP_OFF     0x80u

struct pvh_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct pvh_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct pvh_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

static_assert(sizeof(struct pvh_start_info) == 56, "hvm_start_info v1 is 56 bytes");
static_assert(offsetof(struct pvh_start_info, memmap_paddr) == 40, "memmap_paddr");
static_assert(sizeof(struct pvh_modlist_entry) == 32, "hvm_modlist_entry");
static_assert(sizeof(struct pvh_memmap_entry) == 24, "hvm_memmap_table_entry");
static_assert(PVH_MODLIST_OFF >= sizeof(struct pvh_start_info), "modlist after start_info");
static_assert(PVH_MEMMAP_OFF >= PVH_MODLIST_OFF + sizeof(struct pvh_modlist_entry),
	      "memmap after modlist");
static_assert(PVH_MEMMAP_OFF + BOOT_E820_MAX * sizeof(struct pvh_memmap_entry) <=
	      X86_PVH_INFO_SIZE, "PVH info fits its page");

/* The file's headers, class-independent. */
struct elfload_file {
	const uint8_t *data;
	size_t len;
	const char *name;
	bool is64;
	uint64_t entry;
	uint64_t phoff, shoff;
	unsigned phnum, shnum;
};

struct elfload_seg {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

struct elfload_loaded {
	uint64_t top;       /* end of the highest PT_LOAD in guest memory */
	unsigned nloads;
};

static uint64_t elfload_rd(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = size; i > 0; i--)
		v = (v << 8) | p[i - 1];
	return v;
}

/* Is [off, off+len) inside the file? */
static bool elfload_in_file(const struct elfload_file *ef, uint64_t off, uint64_t len)
{
	return off <= ef->len && len <= ef->len - off;
}

static int elfload_check_ident(const uint8_t *k, size_t klen, const char *name, bool *is64)
{
	if (klen < ELF_EHDR32_SIZE) {
		log_error("kernel %s: truncated ELF header (%zu bytes)", name, klen);
		return -ENOEXEC;
	}
	if (k[4] != ELF_CLASS32 && k[4] != ELF_CLASS64) {
		log_error("kernel %s: unknown ELF class %u", name, k[4]);
		return -ENOEXEC;
	}
	if (k[5] != ELF_DATA_LSB || k[6] != ELF_VERSION_CUR) {
		log_error("kernel %s: not a little-endian ELF version 1 file", name);
		return -ENOEXEC;
	}
	*is64 = k[4] == ELF_CLASS64;
	if (*is64 && klen < ELF_EHDR64_SIZE) {
		log_error("kernel %s: truncated ELF header (%zu bytes)", name, klen);
		return -ENOEXEC;
	}
	return 0;
}

static int elfload_check_type(const struct elfload_file *ef)
{
	unsigned type = (unsigned)elfload_rd(ef->data + 16, 2);
	unsigned machine = (unsigned)elfload_rd(ef->data + 18, 2);

	if (type != ELF_ET_EXEC) {
		log_error("kernel %s: ELF type %u is not an executable (ET_EXEC)", ef->name, type);
		return -ENOEXEC;
	}
	if (machine != (ef->is64 ? ELF_EM_X86_64 : ELF_EM_386)) {
		log_error("kernel %s: ELF machine %u is not %s", ef->name, machine,
			  ef->is64 ? "x86-64" : "i386");
		return -ENOEXEC;
	}
	return 0;
}

static void elfload_read_header(struct elfload_file *ef, unsigned *phentsize)
{
	const uint8_t *k = ef->data;

	if (ef->is64) {
		ef->entry = elfload_rd(k + 24, 8);
		ef->phoff = elfload_rd(k + 32, 8);
		ef->shoff = elfload_rd(k + 40, 8);
		*phentsize = (unsigned)elfload_rd(k + 54, 2);
		ef->phnum = (unsigned)elfload_rd(k + 56, 2);
		ef->shnum = (unsigned)elfload_rd(k + 60, 2);
		return;
	}
	ef->entry = elfload_rd(k + 24, 4);
	ef->phoff = elfload_rd(k + 28, 4);
	ef->shoff = elfload_rd(k + 32, 4);
	*phentsize = (unsigned)elfload_rd(k + 42, 2);
	ef->phnum = (unsigned)elfload_rd(k + 44, 2);
	ef->shnum = (unsigned)elfload_rd(k + 48, 2);
}

static int elfload_parse(const uint8_t *k, size_t klen, const char *name, struct elfload_file *ef)
{
	unsigned phentsize, want;
	int ret;

	*ef = (struct elfload_file){ .data = k, .len = klen, .name = name };
	ret = elfload_check_ident(k, klen, name, &ef->is64);
	if (ret == 0)
		ret = elfload_check_type(ef);
	if (ret < 0)
		return ret;
	elfload_read_header(ef, &phentsize);
	want = ef->is64 ? ELF_PHDR64_SIZE : ELF_PHDR32_SIZE;
	if (phentsize != want || ef->phnum == 0) {
		log_error("kernel %s: bad ELF program header table (entry size %u, %u entries)",
			  name, phentsize, ef->phnum);
		return -ENOEXEC;
	}
	if (!elfload_in_file(ef, ef->phoff, (uint64_t)ef->phnum * want)) {
		log_error("kernel %s: ELF program headers (%u at offset 0x%llx) lie outside "
			  "the %zu-byte file", name, ef->phnum, (unsigned long long)ef->phoff, klen);
		return -ENOEXEC;
	}
	return 0;
}

static void elfload_get_seg(const struct elfload_file *ef, unsigned i, struct elfload_seg *s)
{
	const uint8_t *p;

	if (ef->is64) {
		p = ef->data + ef->phoff + (uint64_t)i * ELF_PHDR64_SIZE;
		*s = (struct elfload_seg){
			.type = (uint32_t)elfload_rd(p, 4), .offset = elfload_rd(p + 8, 8),
			.vaddr = elfload_rd(p + 16, 8), .paddr = elfload_rd(p + 24, 8),
			.filesz = elfload_rd(p + 32, 8), .memsz = elfload_rd(p + 40, 8),
			.align = elfload_rd(p + 48, 8),
		};
		return;
	}
	p = ef->data + ef->phoff + (uint64_t)i * ELF_PHDR32_SIZE;
	*s = (struct elfload_seg){
		.type = (uint32_t)elfload_rd(p, 4), .offset = elfload_rd(p + 4, 4),
		.vaddr = elfload_rd(p + 8, 4), .paddr = elfload_rd(p + 12, 4),
		.filesz = elfload_rd(p + 16, 4), .memsz = elfload_rd(p + 20, 4),
		.align = elfload_rd(p + 28, 4),
	};
}

static int elfload_check_load(const struct gmem *gm, const struct elfload_file *ef,
			      const struct elfload_seg *s, unsigned i)
{
	uint64_t end = s->paddr + s->memsz;

	if (s->filesz > s->memsz) {
		log_error("kernel %s: segment %u: file size 0x%llx exceeds memory size 0x%llx",
			  ef->name, i, (unsigned long long)s->filesz, (unsigned long long)s->memsz);
		return -ENOEXEC;
	}
	if (!elfload_in_file(ef, s->offset, s->filesz)) {
		log_error("kernel %s: segment %u: file range 0x%llx+0x%llx is outside the "
			  "%zu-byte file", ef->name, i, (unsigned long long)s->offset,
			  (unsigned long long)s->filesz, ef->len);
		return -ENOEXEC;
	}
	if (s->paddr < X86_KERNEL_GPA) {
		log_error("kernel %s: segment %u at 0x%llx overlaps the boot structures below 0x%llx",
			  ef->name, i, (unsigned long long)s->paddr,
			  (unsigned long long)X86_KERNEL_GPA);
		return -ENOEXEC;
	}
	if (end < s->paddr) {
		log_error("kernel %s: segment %u: memory size 0x%llx at 0x%llx wraps around",
			  ef->name, i, (unsigned long long)s->memsz, (unsigned long long)s->paddr);
		return -ENOMEM;
	}
	if (end > X86_RAM_LOW_MAX || !gmem_ptr(gm, s->paddr, s->memsz)) {
		log_error("kernel %s does not fit in RAM: segment %u at 0x%llx-0x%llx is past "
			  "the end of guest RAM", ef->name, i, (unsigned long long)s->paddr,
			  (unsigned long long)end);
		return -ENOMEM;
	}
	return 0;
}

/* Validate every PT_LOAD (copy when do_copy) and find the top of them. */
static int elfload_walk_loads(struct gmem *gm, const struct elfload_file *ef, bool do_copy,
			      struct elfload_loaded *ld)
{
	struct elfload_seg s;
	int ret;

	*ld = (struct elfload_loaded){ 0 };
	for (unsigned i = 0; i < ef->phnum; i++) {
		elfload_get_seg(ef, i, &s);
		if (s.type != ELF_PT_LOAD || s.memsz == 0)
			continue;
		ret = elfload_check_load(gm, ef, &s, i);
		if (ret < 0)
			return ret;
		ld->nloads++;
		ld->top = MAX(ld->top, s.paddr + s.memsz);
		if (!do_copy)
			continue;
		memcpy(gmem_ptr(gm, s.paddr, s.memsz), ef->data + s.offset, s.filesz);
		gmem_zero(gm, s.paddr + s.filesz, s.memsz - s.filesz);
	}
	if (ld->nloads == 0) {
		log_error("kernel %s: ELF file has no loadable segment", ef->name);
		return -ENOEXEC;
	}
	return 0;
}

static int elfload_note_desc(const struct elfload_file *ef, const uint8_t *desc, uint32_t size,
			     uint64_t *entry)
{
	if (size != 4 && size != 8) {
		log_error("kernel %s: PVH entry note has a %u-byte descriptor (want 4 or 8)",
			  ef->name, size);
		return -ENOEXEC;
	}
	*entry = elfload_rd(desc, size);
	if (*entry > UINT32_MAX) {
		log_error("kernel %s: PVH entry 0x%llx is above 4 GiB", ef->name,
			  (unsigned long long)*entry);
		return -ENOEXEC;
	}
	return 0;
}

/* Scan the notes in file bytes [off, off+len). 1 found, 0 not, -ENOEXEC. */
static int elfload_scan_notes(const struct elfload_file *ef, uint64_t off, uint64_t len,
			      uint64_t align, uint64_t *entry)
{
	uint64_t a = align == 8 ? 8 : 4, pos = 0, name_sz, desc_sz, desc;
	const uint8_t *p;
	int ret;

	if (!elfload_in_file(ef, off, len)) {
		log_error("kernel %s: ELF note area 0x%llx+0x%llx is outside the file",
			  ef->name, (unsigned long long)off, (unsigned long long)len);
		return -ENOEXEC;
	}
	p = ef->data + off;
	while (len - pos >= ELF_NOTE_HDR) {
		name_sz = elfload_rd(p + pos, 4);
		desc_sz = elfload_rd(p + pos + 4, 4);
		desc = pos + ELF_NOTE_HDR + ALIGN_UP(name_sz, a);
		if (desc > len || ALIGN_UP(desc_sz, a) > len - desc) {
			log_error("kernel %s: malformed ELF note at file offset 0x%llx",
				  ef->name, (unsigned long long)(off + pos));
			return -ENOEXEC;
		}
		if (name_sz == 4 && memcmp(p + pos + ELF_NOTE_HDR, "Xen", 4) == 0 &&
		    elfload_rd(p + pos + 8, 4) == XEN_ELFNOTE_PHYS32_ENTRY) {
			ret = elfload_note_desc(ef, p + desc, (uint32_t)desc_sz, entry);
			return ret < 0 ? ret : 1;
		}
		pos = desc + ALIGN_UP(desc_sz, a);
	}
	return 0;
}

static int elfload_find_pvh_sections(const struct elfload_file *ef, uint64_t *entry)
{
	unsigned esz = ef->is64 ? ELF_SHDR64_SIZE : ELF_SHDR32_SIZE;
	unsigned wsz = ef->is64 ? 8 : 4;
	const uint8_t *sh;
	int ret;

	if (ef->shoff == 0 || ef->shnum == 0)
		return 0;
	if (elfload_rd(ef->data + (ef->is64 ? 58 : 46), 2) != esz ||
	    !elfload_in_file(ef, ef->shoff, (uint64_t)ef->shnum * esz)) {
		log_error("kernel %s: ELF section headers lie outside the file or are malformed",
			  ef->name);
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < ef->shnum; i++) {
		sh = ef->data + ef->shoff + (uint64_t)i * esz;
		if (elfload_rd(sh + 4, 4) != ELF_SHT_NOTE)
			continue;
		/* sh_offset, sh_size, sh_addralign follow sh_flags, sh_addr */
		ret = elfload_scan_notes(ef, elfload_rd(sh + 8 + 2 * wsz, wsz),
					 elfload_rd(sh + 8 + 3 * wsz, wsz),
					 elfload_rd(sh + 8 + 4 * wsz + 8, wsz), entry);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* Look for the PVH entry note in PT_NOTE segments, else in SHT_NOTE sections.
 * 1 found, 0 not, -ENOEXEC malformed. */
static int elfload_find_pvh(const struct elfload_file *ef, uint64_t *entry)
{
	struct elfload_seg s;
	unsigned nnotes = 0;
	int ret;

	for (unsigned i = 0; i < ef->phnum; i++) {
		elfload_get_seg(ef, i, &s);
		if (s.type != ELF_PT_NOTE)
			continue;
		nnotes++;
		ret = elfload_scan_notes(ef, s.offset, s.filesz, s.align, entry);
		if (ret != 0)
			return ret;
	}
	return nnotes ? 0 : elfload_find_pvh_sections(ef, entry);
}

/* Physical entry: the entry when it lies in a segment's physical range, else
 * (when allow_virt: e_entry of a vmlinux) translated through the segment whose
 * virtual range holds it. */
static int elfload_entry_phys(const struct elfload_file *ef, uint64_t entry, bool allow_virt,
			      uint64_t *phys)
{
	struct elfload_seg s;

	for (int pass = 0; pass < (allow_virt ? 2 : 1); pass++) {
		for (unsigned i = 0; i < ef->phnum; i++) {
			uint64_t base;

			elfload_get_seg(ef, i, &s);
			base = pass == 0 ? s.paddr : s.vaddr;
			if (s.type != ELF_PT_LOAD || entry < base || entry - base >= s.memsz)
				continue;
			*phys = entry - base + s.paddr;
			return 0;
		}
	}
	log_error("kernel %s: entry point 0x%llx is not inside any loadable segment",
		  ef->name, (unsigned long long)entry);
	return -ENOEXEC;
}

static int elfload_write_pvh(struct gmem *gm, const struct loader_args *args,
			     uint64_t initrd_gpa, size_t ilen)
{
	uint8_t *page = gmem_ptr(gm, X86_PVH_INFO_GPA, X86_PVH_INFO_SIZE);
	struct pvh_start_info si = {
		.magic = PVH_MAGIC, .version = PVH_VERSION,
		.cmdline_paddr = args->cmdline && args->cmdline[0] ? X86_CMDLINE_GPA : 0,
		.rsdp_paddr = args->rsdp_gpa,
		.memmap_paddr = X86_PVH_INFO_GPA + PVH_MEMMAP_OFF,
		.memmap_entries = args->ne820,
	};
	struct pvh_modlist_entry mod = { .paddr = initrd_gpa, .size = ilen };
	struct pvh_memmap_entry mm;

	if (!page) {
		log_error("kernel %s: no guest RAM for the PVH start info at 0x%llx",
			  loader_kernel_name(args), (unsigned long long)X86_PVH_INFO_GPA);
		return -EFAULT;
	}
	if (ilen) {
		si.nr_modules = 1;
		si.modlist_paddr = X86_PVH_INFO_GPA + PVH_MODLIST_OFF;
	}
	memset(page, 0, X86_PVH_INFO_SIZE);
	memcpy(page, &si, sizeof(si));
	memcpy(page + PVH_MODLIST_OFF, &mod, sizeof(mod));
	for (unsigned i = 0; i < args->ne820 && i < BOOT_E820_MAX; i++) {
		mm = (struct pvh_memmap_entry){ .addr = args->e820[i].addr,
			.size = args->e820[i].size, .type = args->e820[i].type };
		memcpy(page + PVH_MEMMAP_OFF + i * sizeof(mm), &mm, sizeof(mm));
	}
	return 0;
}

static int elfload_write_zero_page(struct gmem *gm, const struct loader_args *args,
				   uint64_t initrd_gpa, size_t ilen)
{
	struct boot_params bp;

	memset(&bp, 0, sizeof(bp));
	bp.hdr.boot_flag = BOOT_FLAG_MAGIC;
	bp.hdr.header = BOOT_HDR_MAGIC;
	bp.hdr.version = 0x020F;
	bp.hdr.loadflags = BOOT_LF_LOADED_HIGH;
	bp.hdr.vid_mode = BOOT_VID_NORMAL;
	bp.hdr.kernel_alignment = 0x200000;
	bp.hdr.cmdline_size = LOADER_ELF_CMDLINE_MAX;
	bp.hdr.initrd_addr_max = (uint32_t)(X86_RAM_LOW_MAX - 1);
	loader_bp_fill(&bp, args, initrd_gpa, ilen);
	if (gmem_write(gm, X86_ZERO_PAGE_GPA, &bp, sizeof(bp)) < 0) {
		log_error("kernel %s: no guest RAM for the zero page at 0x%llx",
			  loader_kernel_name(args), (unsigned long long)X86_ZERO_PAGE_GPA);
		return -EFAULT;
	}
	return 0;
}

/* Everything that can fail before guest memory is touched. */
static int elfload_prepare(struct gmem *gm, const struct elfload_file *ef,
			   const struct loader_args *args, size_t ilen,
			   uint64_t *initrd_gpa, int *has_pvh, uint64_t *entry)
{
	uint64_t limit = args->initrd_max ? MIN(args->initrd_max, X86_RAM_LOW_MAX)
					  : X86_RAM_LOW_MAX;
	struct elfload_loaded ld;
	size_t cmdlen;
	int ret;

	ret = elfload_walk_loads(gm, ef, false, &ld);
	if (ret < 0)
		return ret;
	*has_pvh = elfload_find_pvh(ef, entry);
	if (*has_pvh < 0)
		return *has_pvh;
	if (!*has_pvh && !ef->is64) {
		log_error("kernel %s: 32-bit ELF without a PVH entry note cannot be booted",
			  ef->name);
		return -ENOEXEC;
	}
	ret = elfload_entry_phys(ef, *has_pvh ? *entry : ef->entry, !*has_pvh, entry);
	if (ret == 0)
		ret = loader_cmdline_check(args, LOADER_ELF_CMDLINE_MAX, &cmdlen);
	*initrd_gpa = 0;
	if (ret == 0 && ilen)
		ret = loader_initrd_place(gm, args, ilen, ld.top, limit, initrd_gpa);
	return ret;
}

int elfload_load(struct gmem *gm, const uint8_t *kernel, size_t klen,
		 const struct loader_args *args, const uint8_t *initrd, size_t ilen,
		 struct boot_entry *out)
{
	struct elfload_file ef;
	struct elfload_loaded ld;
	uint64_t initrd_gpa, entry;
	int ret, has_pvh = 0;

	ilen = initrd ? ilen : 0;
	ret = loader_args_check(args);
	if (ret == 0)
		ret = elfload_parse(kernel, klen, loader_kernel_name(args), &ef);
	if (ret == 0)
		ret = elfload_prepare(gm, &ef, args, ilen, &initrd_gpa, &has_pvh, &entry);
	if (ret == 0)
		ret = loader_cmdline_write(gm, args);
	if (ret == 0)
		ret = has_pvh ? elfload_write_pvh(gm, args, initrd_gpa, ilen)
			      : elfload_write_zero_page(gm, args, initrd_gpa, ilen);
	if (ret < 0)
		return ret;
	(void)elfload_walk_loads(gm, &ef, true, &ld);
	if (ilen)
		memcpy(gmem_ptr(gm, initrd_gpa, ilen), initrd, ilen);
	if (has_pvh)
		*out = (struct boot_entry){ .mode = BOOT_MODE_PVH32, .rip = entry,
					    .rbx = X86_PVH_INFO_GPA };
	else
		*out = (struct boot_entry){ .mode = BOOT_MODE_LONG64, .rip = entry,
					    .rsi = X86_ZERO_PAGE_GPA };
	return 0;
}
