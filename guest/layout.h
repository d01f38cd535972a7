/* layout: constants shared by the guest's assembly (ring 0) and C (ring 3)
 * code: load address, selectors, interrupt vectors, ring-3 -> ring-0 request
 * codes, per-CPU stack sizes, the AP trampoline address and the offsets of
 * the ring-0/ring-3 shared state (struct kshared, checked in kshared.c). */
#ifndef TESTGUEST_LAYOUT_H
#define TESTGUEST_LAYOUT_H

#define GUEST_LOAD_ADDR   0x100000 /* physical load address of the ELF */
#define GUEST_MAX_CPUS    64       /* CPUs we can bring up (xAPIC IDs 0..254) */

/* AP trampoline: copied below 1 MiB, started with SIPI vector 0x08. */
#define TRAMP_ADDR        0x8000
#define TRAMP_SIPI_VECTOR (TRAMP_ADDR >> 12)
#define TRAMP_MAX_SIZE    0x1000

/* Per-CPU stacks (in the .stacks section, zero-filled by the loader). */
#define KSTACK_SIZE       0x2000   /* ring 0: exception/interrupt frames */
#define USTACK_SIZE       0x4000   /* ring 3, APs */
#define BSP_USTACK_SIZE   0x10000  /* ring 3, BSP (runs the workloads) */

/* GDT selectors. */
#define SEL_KCODE64       0x08
#define SEL_KDATA         0x10
#define SEL_KCODE32       0x18
#define SEL_UDATA         0x23     /* 0x20 | RPL 3 */
#define SEL_UCODE64       0x2b     /* 0x28 | RPL 3 */
#define SEL_TSS0          0x30     /* one 16-byte TSS descriptor per CPU */
#define TSS_SIZE          104
#define GDT_SIZE          (SEL_TSS0 + 16 * GUEST_MAX_CPUS)

/* Control register values for long mode. */
#define CR0_LONG          0x80010031 /* PG | WP | NE | ET | PE; CD, NW clear */
#define CR4_LONG          0x20       /* PAE */
#define MSR_EFER          0xc0000080
#define EFER_LME          0x100

/* RFLAGS for ring 3: IOPL=3 (port I/O allowed), IF=1, reserved bit 1. */
#define USER_RFLAGS       0x3202

/* Interrupt vectors. */
#define VEC_UD            6
#define VEC_GP            13
#define VEC_TIMER         0x20
#define VEC_COM1          0x21
#define VEC_ACPI          0x22     /* SCI and/or the HW-reduced GED interrupt */
#define VEC_MSIX_BASE     0x30     /* MSI-X vectors (virtio): each one counted */
#define VEC_MSIX_COUNT    32
#define VEC_SPURIOUS      0xff

/* Ring 3 asks ring 0 for something by executing `hlt` (#GP) with RAX = op. */
#define KOP_WAIT          0x57414954 /* 'WAIT': RDX = event count last seen */
#define KOP_HALT          0x48414c54 /* 'HALT': stop this CPU for good */
/* A `ud2` in ring 3 with RAX = this triple-faults the machine on purpose. */
#define KOP_TRIPLE_FAULT  0x54524950 /* 'TRIP' */

/* Local APIC register addresses (ring-0 handlers only need EOI). */
#define LAPIC_BASE        0xfee00000
#define LAPIC_EOI_ADDR    0xfee000b0

/* Offsets inside struct kshared (see kshared.h). */
#define KS_EVENTS         0   /* u64: interrupts counted (all device vectors) */
#define KS_TICKS          8   /* u64: LAPIC timer ticks */
#define KS_PM1_STS_PORT   16  /* u32: PM1a status port, 0 = none */
#define KS_PM1_SEEN       20  /* u32: PM1 status bits seen by the SCI handler */
#define KS_GED_ADDR       24  /* u64: GED event selector MMIO address, 0 = none */
#define KS_GED_SEEN       32  /* u32: GED selector bits seen */
#define KS_AP_NEXT        36  /* u32: next CPU index handed to a starting AP */
#define KS_MSIX           40  /* u64[VEC_MSIX_COUNT]: interrupts per MSI-X vector */

#endif
