/* loader_priv: what the kernel loaders (loader.c, bzimage.c, elfload.c) share
 * and nobody else needs: the Linux "zero page" (struct boot_params) and its
 * setup header as laid out by the x86 boot protocol, and helpers that place
 * the command line, the initrd and the e820 map. */
#ifndef VMKIT_LOADER_PRIV_H
#define VMKIT_LOADER_PRIV_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "loader.h"

#define LOADER_PAGE_SIZE      0x1000ULL
#define LOADER_KERNEL_MAX     (512ULL << 20) /* largest kernel file we read */
#define LOADER_ELF_CMDLINE_MAX 2047u         /* bytes without the NUL, no header */
#define BOOT_E820_MAX         128u           /* slots in boot_params.e820_table */

/* setup header fields (boot protocol) */
#define BOOT_HDR_MAGIC        0x53726448u    /* "HdrS" read little-endian */
#define BOOT_FLAG_MAGIC       0xAA55u
#define BOOT_LOADER_UNDEFINED 0xFFu
#define BOOT_LF_LOADED_HIGH   0x01u
#define BOOT_LF_CAN_USE_HEAP  0x80u
#define BOOT_XLF_KERNEL_64    0x0001u
#define BOOT_VID_NORMAL       0xFFFFu
#define BOOT_HEAP_END         0xFE00u
#define BOOT_ENTRY64_OFFSET   0x200u         /* 64-bit entry inside protected-mode code */

struct boot_setup_header {
	uint8_t setup_sects;          /* 0x1F1 */
	uint16_t root_flags;          /* 0x1F2 */
	uint32_t syssize;             /* 0x1F4: protected-mode code size / 16 */
	uint16_t ram_size;            /* 0x1F8 */
	uint16_t vid_mode;            /* 0x1FA */
	uint16_t root_dev;            /* 0x1FC */
	uint16_t boot_flag;           /* 0x1FE */
	uint8_t jump[2];              /* 0x200: short jmp; byte 0x201 = header length - 0x202 */
	uint32_t header;              /* 0x202 */
	uint16_t version;             /* 0x206 */
	uint32_t realmode_swtch;      /* 0x208 */
	uint16_t start_sys_seg;       /* 0x20C */
	uint16_t kernel_version;      /* 0x20E */
	uint8_t type_of_loader;       /* 0x210 */
	uint8_t loadflags;            /* 0x211 */
	uint16_t setup_move_size;     /* 0x212 */
	uint32_t code32_start;        /* 0x214 */
	uint32_t ramdisk_image;       /* 0x218 */
	uint32_t ramdisk_size;        /* 0x21C */
	uint32_t bootsect_kludge;     /* 0x220 */
	uint16_t heap_end_ptr;        /* 0x224 */
	uint8_t ext_loader_ver;       /* 0x226 */
	uint8_t ext_loader_type;      /* 0x227 */
	uint32_t cmd_line_ptr;        /* 0x228 */
	uint32_t initrd_addr_max;     /* 0x22C */
	uint32_t kernel_alignment;    /* 0x230 */
	uint8_t relocatable_kernel;   /* 0x234 */
	uint8_t min_alignment;        /* 0x235 */
	uint16_t xloadflags;          /* 0x236 */
	uint32_t cmdline_size;        /* 0x238 */
	uint32_t hardware_subarch;    /* 0x23C */
	uint64_t hardware_subarch_data; /* 0x240 */
	uint32_t payload_offset;      /* 0x248 */
	uint32_t payload_length;      /* 0x24C */
	uint64_t setup_data;          /* 0x250 */
	uint64_t pref_address;        /* 0x258 */
	uint32_t init_size;           /* 0x260 */
	uint32_t handover_offset;     /* 0x264 */
	uint32_t kernel_info_offset;  /* 0x268 */
} __attribute__((packed));

struct boot_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* The zero page. Only the fields we fill are named; the rest stays zero. */
struct boot_params {
	uint8_t reserved0[0x070];
	uint64_t acpi_rsdp_addr;      /* 0x070 */
	uint8_t reserved1[0x1E8 - 0x078];
	uint8_t e820_entries;         /* 0x1E8 */
	uint8_t reserved2[0x1EF - 0x1E9];
	uint8_t sentinel;             /* 0x1EF: must stay 0 */
	uint8_t reserved3;            /* 0x1F0 */
	struct boot_setup_header hdr; /* 0x1F1 */
	uint8_t reserved4[0x2D0 - 0x26C];
	struct boot_e820_entry e820_table[BOOT_E820_MAX]; /* 0x2D0 */
	uint8_t reserved5[0x1000 - 0xCD0];
} __attribute__((packed));

#define BOOT_HDR_OFF(f) (offsetof(struct boot_params, hdr) + offsetof(struct boot_setup_header, f))
#define BOOT_HDR_START  0x1F1u
#define BOOT_HDR_END    0x26Cu        /* end of the fields this struct knows */

static_assert(sizeof(struct boot_e820_entry) == 20, "e820 entry is 20 bytes");
static_assert(sizeof(struct boot_params) == 4096, "zero page is one page");
static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x070, "acpi_rsdp_addr");
static_assert(offsetof(struct boot_params, e820_entries) == 0x1E8, "e820_entries");
static_assert(offsetof(struct boot_params, hdr) == BOOT_HDR_START, "setup header");
static_assert(offsetof(struct boot_params, e820_table) == 0x2D0, "e820_table");
static_assert(BOOT_HDR_OFF(setup_sects) == 0x1F1, "setup_sects");
static_assert(BOOT_HDR_OFF(syssize) == 0x1F4, "syssize");
static_assert(BOOT_HDR_OFF(vid_mode) == 0x1FA, "vid_mode");
static_assert(BOOT_HDR_OFF(boot_flag) == 0x1FE, "boot_flag");
static_assert(BOOT_HDR_OFF(header) == 0x202, "header");
static_assert(BOOT_HDR_OFF(version) == 0x206, "version");
static_assert(BOOT_HDR_OFF(type_of_loader) == 0x210, "type_of_loader");
static_assert(BOOT_HDR_OFF(loadflags) == 0x211, "loadflags");
static_assert(BOOT_HDR_OFF(ramdisk_image) == 0x218, "ramdisk_image");
static_assert(BOOT_HDR_OFF(ramdisk_size) == 0x21C, "ramdisk_size");
static_assert(BOOT_HDR_OFF(heap_end_ptr) == 0x224, "heap_end_ptr");
static_assert(BOOT_HDR_OFF(cmd_line_ptr) == 0x228, "cmd_line_ptr");
static_assert(BOOT_HDR_OFF(initrd_addr_max) == 0x22C, "initrd_addr_max");
static_assert(BOOT_HDR_OFF(kernel_alignment) == 0x230, "kernel_alignment");
static_assert(BOOT_HDR_OFF(relocatable_kernel) == 0x234, "relocatable_kernel");
static_assert(BOOT_HDR_OFF(xloadflags) == 0x236, "xloadflags");
static_assert(BOOT_HDR_OFF(cmdline_size) == 0x238, "cmdline_size");
static_assert(BOOT_HDR_OFF(pref_address) == 0x258, "pref_address");
static_assert(BOOT_HDR_OFF(init_size) == 0x260, "init_size");
static_assert(BOOT_HDR_OFF(kernel_info_offset) + 4 == BOOT_HDR_END, "header end");

/* Name of the kernel file for messages. */
const char *loader_kernel_name(const struct loader_args *args);
/* Name of the initrd file for messages. */
const char *loader_initrd_name(const struct loader_args *args);
/* Length of args->cmdline (0 when NULL); -E2BIG (logged) when longer than
 * max bytes without the NUL. */
int loader_cmdline_check(const struct loader_args *args, uint32_t max, size_t *len);
/* Write the NUL-terminated command line at X86_CMDLINE_GPA. 0 or -EFAULT. */
int loader_cmdline_write(struct gmem *gm, const struct loader_args *args);
/* Highest page-aligned gpa for ilen bytes of initrd inside e820 RAM and guest
 * memory, within [floor, limit). 0 or -E2BIG (logged). */
int loader_initrd_place(const struct gmem *gm, const struct loader_args *args,
			size_t ilen, uint64_t floor, uint64_t limit, uint64_t *gpa);
/* Fill e820, RSDP, loader type, command line and ramdisk fields of bp. */
void loader_bp_fill(struct boot_params *bp, const struct loader_args *args,
		    uint64_t initrd_gpa, size_t ilen);
/* Check the e820 map in args (1..BOOT_E820_MAX entries). 0 or -EINVAL (logged). */
int loader_args_check(const struct loader_args *args);

#endif
