/* bzimage: loads a Linux bzImage through the 64-bit boot protocol (>= 2.12,
 * XLF_KERNEL_64): validates the setup header read from the file, copies the
 * protected-mode code to X86_KERNEL_GPA, builds the zero page (boot_params)
 * with e820, command line and initrd, and returns the 64-bit entry. */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "gmem.h"
#include "loader.h"
#include "loader_priv.h"

#define BZIMAGE_MIN_VERSION   0x020Cu  /* 2.12: xloadflags, 64-bit entry */
#define BZIMAGE_SECTOR        512u
#define BZIMAGE_DEFAULT_SECTS 4u       /* setup_sects == 0 means 4 */
#define BZIMAGE_HDR_COPY_END  0x290u   /* the setup header area ends here */
#define BZIMAGE_HDR_NEED_END  0x264u   /* through init_size (protocol 2.10+) */
#define BZIMAGE_JMP_SHORT     0xEBu

struct bzimage_info {
	struct boot_setup_header hdr; /* as read from the file */
	size_t hdr_end;               /* 0x202 + byte at 0x201 */
	size_t code_off;              /* protected-mode code starts here */
	size_t code_len;
	uint64_t load_end;            /* end of RAM the kernel needs from X86_KERNEL_GPA */
};

static int bzimage_parse_header(const uint8_t *k, size_t klen, const char *name,
				struct bzimage_info *bi)
{
	size_t n;

	if (klen < 0x202 || k[0x200] != BZIMAGE_JMP_SHORT) {
		log_error("kernel %s: truncated or corrupt setup header (file is %zu bytes)",
			  name, klen);
		return -ENOEXEC;
	}
	bi->hdr_end = 0x202u + k[0x201];
	if (klen < bi->hdr_end) {
		log_error("kernel %s: truncated: file is %zu bytes, its setup header ends at 0x%zx",
			  name, klen, bi->hdr_end);
		return -ENOEXEC;
	}
	memset(&bi->hdr, 0, sizeof(bi->hdr));
	n = MIN(bi->hdr_end, (size_t)BOOT_HDR_END) - BOOT_HDR_START;
	memcpy(&bi->hdr, k + BOOT_HDR_START, n);
	if (bi->hdr.version < BZIMAGE_MIN_VERSION) {
		log_error("kernel %s: boot protocol %u.%02u is older than 2.12; only the "
			  "64-bit boot protocol is supported", name, bi->hdr.version >> 8,
			  bi->hdr.version & 0xFFu);
		return -ENOEXEC;
	}
	if (bi->hdr_end < BZIMAGE_HDR_NEED_END) {
		log_error("kernel %s: corrupt: setup header ends at 0x%zx, protocol %u.%02u needs 0x%x",
			  name, bi->hdr_end, bi->hdr.version >> 8, bi->hdr.version & 0xFFu,
			  BZIMAGE_HDR_NEED_END);
		return -ENOEXEC;
	}
	if (!(bi->hdr.xloadflags & BOOT_XLF_KERNEL_64)) {
		log_error("kernel %s: no 64-bit entry point (XLF_KERNEL_64 not set in xloadflags)",
			  name);
		return -ENOEXEC;
	}
	return 0;
}

/* Where the kernel runs after relocating itself, per the boot protocol. */
static int bzimage_runtime_start(const struct boot_setup_header *h, const char *name,
				 uint64_t *start)
{
	uint32_t align = h->kernel_alignment;

	if (!h->relocatable_kernel) {
		*start = h->pref_address ? h->pref_address : X86_KERNEL_GPA;
		return 0;
	}
	if (align == 0 || (align & (align - 1)) != 0) {
		log_error("kernel %s: corrupt: kernel_alignment 0x%x is not a power of two",
			  name, align);
		return -ENOEXEC;
	}
	*start = MAX(ALIGN_UP(X86_KERNEL_GPA, align), h->pref_address);
	return 0;
}

static int bzimage_parse(const uint8_t *k, size_t klen, const char *name,
			 struct bzimage_info *bi)
{
	uint64_t sects, start;
	int ret;

	ret = bzimage_parse_header(k, klen, name, bi);
	if (ret < 0)
		return ret;
	sects = bi->hdr.setup_sects ? bi->hdr.setup_sects : BZIMAGE_DEFAULT_SECTS;
	bi->code_off = (size_t)((sects + 1) * BZIMAGE_SECTOR);
	if (klen <= bi->code_off) {
		log_error("kernel %s: truncated: file is %zu bytes, its setup code alone is %zu",
			  name, klen, bi->code_off);
		return -ENOEXEC;
	}
	bi->code_len = klen - bi->code_off;
	if ((uint64_t)bi->hdr.syssize * 16 > bi->code_len) {
		log_error("kernel %s: truncated: header says %llu bytes of kernel code, file has %zu",
			  name, (unsigned long long)bi->hdr.syssize * 16, bi->code_len);
		return -ENOEXEC;
	}
	ret = bzimage_runtime_start(&bi->hdr, name, &start);
	if (ret < 0)
		return ret;
	if (start > X86_RAM_LOW_MAX) {
		log_error("kernel %s: wants to run at 0x%llx, above RAM below 4 GiB",
			  name, (unsigned long long)start);
		return -ENOMEM;
	}
	bi->load_end = MAX(X86_KERNEL_GPA + bi->code_len, start + bi->hdr.init_size);
	return 0;
}

static int bzimage_check_fit(const struct gmem *gm, const struct bzimage_info *bi,
			     const char *name)
{
	if (bi->load_end > X86_RAM_LOW_MAX ||
	    !gmem_ptr(gm, X86_KERNEL_GPA, bi->load_end - X86_KERNEL_GPA)) {
		log_error("kernel %s does not fit in RAM: needs 0x%llx-0x%llx (%zu bytes of code, "
			  "init_size 0x%x)", name, (unsigned long long)X86_KERNEL_GPA,
			  (unsigned long long)bi->load_end, bi->code_len, bi->hdr.init_size);
		return -ENOMEM;
	}
	return 0;
}

static int bzimage_place_initrd(const struct gmem *gm, const struct loader_args *args,
				const struct bzimage_info *bi, size_t ilen, uint64_t *gpa)
{
	uint64_t limit = (uint64_t)bi->hdr.initrd_addr_max + 1;

	*gpa = 0;
	if (ilen == 0)
		return 0;
	if (args->initrd_max)
		limit = MIN(limit, args->initrd_max);
	limit = MIN(limit, X86_RAM_LOW_MAX);
	return loader_initrd_place(gm, args, ilen, bi->load_end, limit, gpa);
}

static void bzimage_build_params(struct boot_params *bp, const uint8_t *k,
				 const struct bzimage_info *bi, const struct loader_args *args,
				 uint64_t initrd_gpa, size_t ilen)
{
	size_t end = MIN(bi->hdr_end, (size_t)BZIMAGE_HDR_COPY_END);

	memset(bp, 0, sizeof(*bp));
	memcpy((uint8_t *)bp + BOOT_HDR_START, k + BOOT_HDR_START, end - BOOT_HDR_START);
	bp->hdr.vid_mode = BOOT_VID_NORMAL;
	bp->hdr.loadflags |= BOOT_LF_CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = BOOT_HEAP_END;
	loader_bp_fill(bp, args, initrd_gpa, ilen);
}

int bzimage_load(struct gmem *gm, const uint8_t *kernel, size_t klen,
		 const struct loader_args *args, const uint8_t *initrd, size_t ilen,
		 struct boot_entry *out)
{
	const char *name = loader_kernel_name(args);
	struct bzimage_info bi;
	struct boot_params bp;
	uint64_t initrd_gpa;
	size_t cmdlen;
	int ret;

	ret = loader_args_check(args);
	if (ret == 0)
		ret = bzimage_parse(kernel, klen, name, &bi);
	if (ret == 0)
		ret = loader_cmdline_check(args, bi.hdr.cmdline_size, &cmdlen);
	if (ret == 0)
		ret = bzimage_check_fit(gm, &bi, name);
	if (ret == 0)
		ret = bzimage_place_initrd(gm, args, &bi, initrd ? ilen : 0, &initrd_gpa);
	if (ret == 0)
		ret = loader_cmdline_write(gm, args);
	if (ret < 0)
		return ret;
	bzimage_build_params(&bp, kernel, &bi, args, initrd_gpa, initrd ? ilen : 0);
	if (gmem_write(gm, X86_KERNEL_GPA, kernel + bi.code_off, bi.code_len) < 0 ||
	    (ilen && initrd && gmem_write(gm, initrd_gpa, initrd, ilen) < 0) ||
	    gmem_write(gm, X86_ZERO_PAGE_GPA, &bp, sizeof(bp)) < 0) {
		log_error("kernel %s: no guest RAM for the zero page at 0x%llx",
			  name, (unsigned long long)X86_ZERO_PAGE_GPA);
		return -EFAULT;
	}
	*out = (struct boot_entry){
		.mode = BOOT_MODE_LONG64,
		.rip = X86_KERNEL_GPA + BOOT_ENTRY64_OFFSET,
		.rsi = X86_ZERO_PAGE_GPA,
	};
	return 0;
}
