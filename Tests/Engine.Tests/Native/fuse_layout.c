/*
 * fuse_layout.c: prints the kernel ABI of <linux/fuse.h> as this machine's C compiler sees it, for
 * StructLayoutTests, which compares every line with the C# mirrors in Engine/Protocol/Structs.cs and
 * the constants in Engine/Protocol/{Opcode,InitFlags}.cs.
 *
 * Output, one item per line:
 *   struct <c_struct> <sizeof>
 *   field <c_struct>.<c_field> <offsetof> <sizeof field>
 *   opcode <NAME> <value>          (enum fuse_opcode)
 *   notify <NAME> <value>          (enum fuse_notify_code)
 *   initflag <NAME> <value>        (FUSE_* INIT flags, 64-bit: flags2 bits are 32..63)
 *   const <NAME> <value>           (other #defines mirrored in FuseConstants)
 *   opbody <OPCODE> <bytes>        (the fixed request struct the kernel sends for an opcode, 0 if none)
 *   opnames <OPCODE> <count>       (NUL-terminated names that follow it)
 *   opreply <OPCODE> <bytes>       (the exact reply size, for opcodes whose reply is fixed)
 *
 * Array fields are printed as one line for the whole array ("unused") when C# mirrors them with a
 * fixed buffer, or one line per element ("spare0", "spare1", ...) when C# has one field per element.
 *
 * The header installed by linux-libc-dev may be older than the protocol the engine speaks (7.45).
 * Whatever the header lacks is defined here exactly as upstream defines it (include/uapi/linux/fuse.h
 * of Linux 6.18), guarded by FUSE_KERNEL_MINOR_VERSION so a newer header is used as is.
 *
 * Build: cc -std=gnu11 -Wall -o fuse_layout fuse_layout.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/ioctl.h>	/* _IOR/_IOW for the FUSE_DEV_IOC_* values */
#include <linux/fuse.h>

#ifndef FUSE_KERNEL_MINOR_VERSION
#error "linux/fuse.h without FUSE_KERNEL_MINOR_VERSION"
#endif

/* ---- 7.45 definitions missing from older headers ------------------------------------------- */

#if FUSE_KERNEL_MINOR_VERSION < 43
/* 7.40 turned unused[0] into max_stack_depth (passthrough), 7.43 split the next word into
 * request_timeout and unused u16s. Upstream 7.45: */
struct fuse_init_out_7_45 {
	uint32_t	major;
	uint32_t	minor;
	uint32_t	max_readahead;
	uint32_t	flags;
	uint16_t	max_background;
	uint16_t	congestion_threshold;
	uint32_t	max_write;
	uint32_t	time_gran;
	uint16_t	max_pages;
	uint16_t	map_alignment;
	uint32_t	flags2;
	uint32_t	max_stack_depth;
	uint16_t	request_timeout;
	uint16_t	unused[11];
};
/* The part the installed header does have must agree with it. */
#define SAME_FIELD(f) _Static_assert(offsetof(struct fuse_init_out_7_45, f) == offsetof(struct fuse_init_out, f) && \
	sizeof(((struct fuse_init_out_7_45 *)0)->f) == sizeof(((struct fuse_init_out *)0)->f), "fuse_init_out." #f)
SAME_FIELD(major); SAME_FIELD(minor); SAME_FIELD(max_readahead); SAME_FIELD(flags);
SAME_FIELD(max_background); SAME_FIELD(congestion_threshold); SAME_FIELD(max_write); SAME_FIELD(time_gran);
SAME_FIELD(max_pages); SAME_FIELD(map_alignment); SAME_FIELD(flags2);
_Static_assert(sizeof(struct fuse_init_out_7_45) == sizeof(struct fuse_init_out), "fuse_init_out size");
#define INIT_OUT fuse_init_out_7_45
#else
#define INIT_OUT fuse_init_out
#endif

#if FUSE_KERNEL_MINOR_VERSION < 40
/* 7.40 (passthrough): FUSE_DEV_IOC_BACKING_OPEN argument. Upstream: */
struct fuse_backing_map {
	int32_t		fd;
	uint32_t	flags;
	uint64_t	padding;
};
#endif

#if FUSE_KERNEL_MINOR_VERSION < 45
/* 7.45: reply of FUSE_COPY_FILE_RANGE_64. Upstream: */
struct fuse_copy_file_range_out {
	uint64_t	bytes_copied;
};
#endif

#if FUSE_KERNEL_MINOR_VERSION < 39
/* 7.39: FUSE_STATX request and reply. Upstream: */
struct fuse_statx_in {
	uint32_t	getattr_flags;
	uint32_t	reserved;
	uint64_t	fh;
	uint32_t	sx_flags;
	uint32_t	sx_mask;
};
struct fuse_sx_time {
	int64_t		tv_sec;
	uint32_t	tv_nsec;
	int32_t		__reserved;
};
struct fuse_statx {
	uint32_t	mask;
	uint32_t	blksize;
	uint64_t	attributes;
	uint32_t	nlink;
	uint32_t	uid;
	uint32_t	gid;
	uint16_t	mode;
	uint16_t	__spare0[1];
	uint64_t	ino;
	uint64_t	size;
	uint64_t	blocks;
	uint64_t	attributes_mask;
	struct fuse_sx_time	atime;
	struct fuse_sx_time	btime;
	struct fuse_sx_time	ctime;
	struct fuse_sx_time	mtime;
	uint32_t	rdev_major;
	uint32_t	rdev_minor;
	uint32_t	dev_major;
	uint32_t	dev_minor;
	uint64_t	__spare2[14];
};
struct fuse_statx_out {
	uint64_t	attr_valid;
	uint32_t	attr_valid_nsec;
	uint32_t	flags;
	uint64_t	spare[2];
	struct fuse_statx stat;
};
#endif

/* ---- printing ------------------------------------------------------------------------------- */

#define STRUCT_AS(tag, name) printf("struct %s %zu\n", name, sizeof(struct tag))
#define FIELD_AS(tag, f, name, cname) \
	printf("field %s.%s %zu %zu\n", name, cname, offsetof(struct tag, f), sizeof(((struct tag *)0)->f))
#define STRUCT(tag) STRUCT_AS(tag, #tag)
#define FIELD(tag, f) FIELD_AS(tag, f, #tag, #f)
/* One element of an array field, printed as <field><index>. */
#define ELEM(tag, f, i) FIELD_AS(tag, f[i], #tag, #f #i)

#define OPCODE(x) printf("opcode %s %llu\n", #x, (unsigned long long)(x))
#define NOTIFY(x) printf("notify %s %llu\n", #x, (unsigned long long)(x))
/* Bits 0..31 are defined as (1 << n), an int: bit 31 is negative, so go through uint32_t. */
#define INITFLAG32(x) printf("initflag %s %llu\n", #x, (unsigned long long)(uint32_t)(x))
#define INITFLAG64(x) printf("initflag %s %llu\n", #x, (unsigned long long)(x))
#define CONST(x) printf("const %s %llu\n", #x, (unsigned long long)(uint32_t)(x))

static void structs(void)
{
	STRUCT(fuse_in_header);
	FIELD(fuse_in_header, len); FIELD(fuse_in_header, opcode); FIELD(fuse_in_header, unique);
	FIELD(fuse_in_header, nodeid); FIELD(fuse_in_header, uid); FIELD(fuse_in_header, gid);
	FIELD(fuse_in_header, pid); FIELD(fuse_in_header, total_extlen); FIELD(fuse_in_header, padding);

	STRUCT(fuse_out_header);
	FIELD(fuse_out_header, len); FIELD(fuse_out_header, error); FIELD(fuse_out_header, unique);

	STRUCT(fuse_attr);
	FIELD(fuse_attr, ino); FIELD(fuse_attr, size); FIELD(fuse_attr, blocks); FIELD(fuse_attr, atime);
	FIELD(fuse_attr, mtime); FIELD(fuse_attr, ctime); FIELD(fuse_attr, atimensec); FIELD(fuse_attr, mtimensec);
	FIELD(fuse_attr, ctimensec); FIELD(fuse_attr, mode); FIELD(fuse_attr, nlink); FIELD(fuse_attr, uid);
	FIELD(fuse_attr, gid); FIELD(fuse_attr, rdev); FIELD(fuse_attr, blksize); FIELD(fuse_attr, flags);

	STRUCT(fuse_kstatfs);
	FIELD(fuse_kstatfs, blocks); FIELD(fuse_kstatfs, bfree); FIELD(fuse_kstatfs, bavail); FIELD(fuse_kstatfs, files);
	FIELD(fuse_kstatfs, ffree); FIELD(fuse_kstatfs, bsize); FIELD(fuse_kstatfs, namelen); FIELD(fuse_kstatfs, frsize);
	FIELD(fuse_kstatfs, padding);
	ELEM(fuse_kstatfs, spare, 0); ELEM(fuse_kstatfs, spare, 1); ELEM(fuse_kstatfs, spare, 2);
	ELEM(fuse_kstatfs, spare, 3); ELEM(fuse_kstatfs, spare, 4); ELEM(fuse_kstatfs, spare, 5);

	STRUCT(fuse_file_lock);
	FIELD(fuse_file_lock, start); FIELD(fuse_file_lock, end); FIELD(fuse_file_lock, type); FIELD(fuse_file_lock, pid);

	STRUCT(fuse_entry_out);
	FIELD(fuse_entry_out, nodeid); FIELD(fuse_entry_out, generation); FIELD(fuse_entry_out, entry_valid);
	FIELD(fuse_entry_out, attr_valid); FIELD(fuse_entry_out, entry_valid_nsec); FIELD(fuse_entry_out, attr_valid_nsec);
	FIELD(fuse_entry_out, attr);

	STRUCT(fuse_forget_in);
	FIELD(fuse_forget_in, nlookup);

	STRUCT(fuse_forget_one);
	FIELD(fuse_forget_one, nodeid); FIELD(fuse_forget_one, nlookup);

	STRUCT(fuse_batch_forget_in);
	FIELD(fuse_batch_forget_in, count); FIELD(fuse_batch_forget_in, dummy);

	STRUCT(fuse_getattr_in);
	FIELD(fuse_getattr_in, getattr_flags); FIELD(fuse_getattr_in, dummy); FIELD(fuse_getattr_in, fh);

	STRUCT(fuse_attr_out);
	FIELD(fuse_attr_out, attr_valid); FIELD(fuse_attr_out, attr_valid_nsec); FIELD(fuse_attr_out, dummy);
	FIELD(fuse_attr_out, attr);

	STRUCT(fuse_mknod_in);
	FIELD(fuse_mknod_in, mode); FIELD(fuse_mknod_in, rdev); FIELD(fuse_mknod_in, umask); FIELD(fuse_mknod_in, padding);

	STRUCT(fuse_mkdir_in);
	FIELD(fuse_mkdir_in, mode); FIELD(fuse_mkdir_in, umask);

	STRUCT(fuse_rename_in);
	FIELD(fuse_rename_in, newdir);

	STRUCT(fuse_rename2_in);
	FIELD(fuse_rename2_in, newdir); FIELD(fuse_rename2_in, flags); FIELD(fuse_rename2_in, padding);

	STRUCT(fuse_link_in);
	FIELD(fuse_link_in, oldnodeid);

	STRUCT(fuse_setattr_in);
	FIELD(fuse_setattr_in, valid); FIELD(fuse_setattr_in, padding); FIELD(fuse_setattr_in, fh);
	FIELD(fuse_setattr_in, size); FIELD(fuse_setattr_in, lock_owner); FIELD(fuse_setattr_in, atime);
	FIELD(fuse_setattr_in, mtime); FIELD(fuse_setattr_in, ctime); FIELD(fuse_setattr_in, atimensec);
	FIELD(fuse_setattr_in, mtimensec); FIELD(fuse_setattr_in, ctimensec); FIELD(fuse_setattr_in, mode);
	FIELD(fuse_setattr_in, unused4); FIELD(fuse_setattr_in, uid); FIELD(fuse_setattr_in, gid);
	FIELD(fuse_setattr_in, unused5);

	STRUCT(fuse_open_in);
	FIELD(fuse_open_in, flags); FIELD(fuse_open_in, open_flags);

	STRUCT(fuse_create_in);
	FIELD(fuse_create_in, flags); FIELD(fuse_create_in, mode); FIELD(fuse_create_in, umask);
	FIELD(fuse_create_in, open_flags);

	STRUCT(fuse_open_out);
	FIELD(fuse_open_out, fh); FIELD(fuse_open_out, open_flags);
#if FUSE_KERNEL_MINOR_VERSION < 40
	/* Before 7.40 the word that became backing_id (int32_t) was uint32_t padding. */
	FIELD_AS(fuse_open_out, padding, "fuse_open_out", "backing_id");
#else
	FIELD(fuse_open_out, backing_id);
#endif

	STRUCT(fuse_release_in);
	FIELD(fuse_release_in, fh); FIELD(fuse_release_in, flags); FIELD(fuse_release_in, release_flags);
	FIELD(fuse_release_in, lock_owner);

	STRUCT(fuse_flush_in);
	FIELD(fuse_flush_in, fh); FIELD(fuse_flush_in, unused); FIELD(fuse_flush_in, padding); FIELD(fuse_flush_in, lock_owner);

	STRUCT(fuse_read_in);
	FIELD(fuse_read_in, fh); FIELD(fuse_read_in, offset); FIELD(fuse_read_in, size); FIELD(fuse_read_in, read_flags);
	FIELD(fuse_read_in, lock_owner); FIELD(fuse_read_in, flags); FIELD(fuse_read_in, padding);

	STRUCT(fuse_write_in);
	FIELD(fuse_write_in, fh); FIELD(fuse_write_in, offset); FIELD(fuse_write_in, size); FIELD(fuse_write_in, write_flags);
	FIELD(fuse_write_in, lock_owner); FIELD(fuse_write_in, flags); FIELD(fuse_write_in, padding);

	STRUCT(fuse_write_out);
	FIELD(fuse_write_out, size); FIELD(fuse_write_out, padding);

	STRUCT(fuse_statfs_out);
	FIELD(fuse_statfs_out, st);

	STRUCT(fuse_fsync_in);
	FIELD(fuse_fsync_in, fh); FIELD(fuse_fsync_in, fsync_flags); FIELD(fuse_fsync_in, padding);

	STRUCT(fuse_setxattr_in);
	FIELD(fuse_setxattr_in, size); FIELD(fuse_setxattr_in, flags); FIELD(fuse_setxattr_in, setxattr_flags);
	FIELD(fuse_setxattr_in, padding);

	STRUCT(fuse_getxattr_in);
	FIELD(fuse_getxattr_in, size); FIELD(fuse_getxattr_in, padding);

	STRUCT(fuse_getxattr_out);
	FIELD(fuse_getxattr_out, size); FIELD(fuse_getxattr_out, padding);

	STRUCT(fuse_lk_in);
	FIELD(fuse_lk_in, fh); FIELD(fuse_lk_in, owner); FIELD(fuse_lk_in, lk); FIELD(fuse_lk_in, lk_flags);
	FIELD(fuse_lk_in, padding);

	STRUCT(fuse_lk_out);
	FIELD(fuse_lk_out, lk);

	STRUCT(fuse_access_in);
	FIELD(fuse_access_in, mask); FIELD(fuse_access_in, padding);

	STRUCT(fuse_init_in);
	FIELD(fuse_init_in, major); FIELD(fuse_init_in, minor); FIELD(fuse_init_in, max_readahead);
	FIELD(fuse_init_in, flags); FIELD(fuse_init_in, flags2); FIELD(fuse_init_in, unused);

	STRUCT_AS(INIT_OUT, "fuse_init_out");
	FIELD_AS(INIT_OUT, major, "fuse_init_out", "major");
	FIELD_AS(INIT_OUT, minor, "fuse_init_out", "minor");
	FIELD_AS(INIT_OUT, max_readahead, "fuse_init_out", "max_readahead");
	FIELD_AS(INIT_OUT, flags, "fuse_init_out", "flags");
	FIELD_AS(INIT_OUT, max_background, "fuse_init_out", "max_background");
	FIELD_AS(INIT_OUT, congestion_threshold, "fuse_init_out", "congestion_threshold");
	FIELD_AS(INIT_OUT, max_write, "fuse_init_out", "max_write");
	FIELD_AS(INIT_OUT, time_gran, "fuse_init_out", "time_gran");
	FIELD_AS(INIT_OUT, max_pages, "fuse_init_out", "max_pages");
	FIELD_AS(INIT_OUT, map_alignment, "fuse_init_out", "map_alignment");
	FIELD_AS(INIT_OUT, flags2, "fuse_init_out", "flags2");
	FIELD_AS(INIT_OUT, max_stack_depth, "fuse_init_out", "max_stack_depth");
	FIELD_AS(INIT_OUT, request_timeout, "fuse_init_out", "request_timeout");
	FIELD_AS(INIT_OUT, unused, "fuse_init_out", "unused");

	STRUCT(fuse_interrupt_in);
	FIELD(fuse_interrupt_in, unique);

	STRUCT(fuse_bmap_in);
	FIELD(fuse_bmap_in, block); FIELD(fuse_bmap_in, blocksize); FIELD(fuse_bmap_in, padding);

	STRUCT(fuse_bmap_out);
	FIELD(fuse_bmap_out, block);

	STRUCT(fuse_ioctl_in);
	FIELD(fuse_ioctl_in, fh); FIELD(fuse_ioctl_in, flags); FIELD(fuse_ioctl_in, cmd); FIELD(fuse_ioctl_in, arg);
	FIELD(fuse_ioctl_in, in_size); FIELD(fuse_ioctl_in, out_size);

	STRUCT(fuse_ioctl_out);
	FIELD(fuse_ioctl_out, result); FIELD(fuse_ioctl_out, flags); FIELD(fuse_ioctl_out, in_iovs);
	FIELD(fuse_ioctl_out, out_iovs);

	STRUCT(fuse_poll_in);
	FIELD(fuse_poll_in, fh); FIELD(fuse_poll_in, kh); FIELD(fuse_poll_in, flags); FIELD(fuse_poll_in, events);

	STRUCT(fuse_poll_out);
	FIELD(fuse_poll_out, revents); FIELD(fuse_poll_out, padding);

	STRUCT(fuse_notify_poll_wakeup_out);
	FIELD(fuse_notify_poll_wakeup_out, kh);

	STRUCT(fuse_fallocate_in);
	FIELD(fuse_fallocate_in, fh); FIELD(fuse_fallocate_in, offset); FIELD(fuse_fallocate_in, length);
	FIELD(fuse_fallocate_in, mode); FIELD(fuse_fallocate_in, padding);

	/* name[] is a flexible array member: it starts at sizeof (FUSE_NAME_OFFSET, printed below). */
	STRUCT(fuse_dirent);
	FIELD(fuse_dirent, ino); FIELD(fuse_dirent, off); FIELD(fuse_dirent, namelen); FIELD(fuse_dirent, type);

	STRUCT(fuse_direntplus);
	FIELD(fuse_direntplus, entry_out); FIELD(fuse_direntplus, dirent);

	STRUCT(fuse_notify_inval_inode_out);
	FIELD(fuse_notify_inval_inode_out, ino); FIELD(fuse_notify_inval_inode_out, off); FIELD(fuse_notify_inval_inode_out, len);

	STRUCT(fuse_notify_inval_entry_out);
	FIELD(fuse_notify_inval_entry_out, parent); FIELD(fuse_notify_inval_entry_out, namelen);
	FIELD(fuse_notify_inval_entry_out, flags);

	STRUCT(fuse_notify_delete_out);
	FIELD(fuse_notify_delete_out, parent); FIELD(fuse_notify_delete_out, child); FIELD(fuse_notify_delete_out, namelen);
	FIELD(fuse_notify_delete_out, padding);

	STRUCT(fuse_notify_store_out);
	FIELD(fuse_notify_store_out, nodeid); FIELD(fuse_notify_store_out, offset); FIELD(fuse_notify_store_out, size);
	FIELD(fuse_notify_store_out, padding);

	STRUCT(fuse_notify_retrieve_out);
	FIELD(fuse_notify_retrieve_out, notify_unique); FIELD(fuse_notify_retrieve_out, nodeid);
	FIELD(fuse_notify_retrieve_out, offset); FIELD(fuse_notify_retrieve_out, size); FIELD(fuse_notify_retrieve_out, padding);

	STRUCT(fuse_notify_retrieve_in);
	FIELD(fuse_notify_retrieve_in, dummy1); FIELD(fuse_notify_retrieve_in, offset); FIELD(fuse_notify_retrieve_in, size);
	FIELD(fuse_notify_retrieve_in, dummy2); FIELD(fuse_notify_retrieve_in, dummy3); FIELD(fuse_notify_retrieve_in, dummy4);

	STRUCT(fuse_lseek_in);
	FIELD(fuse_lseek_in, fh); FIELD(fuse_lseek_in, offset); FIELD(fuse_lseek_in, whence); FIELD(fuse_lseek_in, padding);

	STRUCT(fuse_lseek_out);
	FIELD(fuse_lseek_out, offset);

	STRUCT(fuse_copy_file_range_in);
	FIELD(fuse_copy_file_range_in, fh_in); FIELD(fuse_copy_file_range_in, off_in);
	FIELD(fuse_copy_file_range_in, nodeid_out); FIELD(fuse_copy_file_range_in, fh_out);
	FIELD(fuse_copy_file_range_in, off_out); FIELD(fuse_copy_file_range_in, len); FIELD(fuse_copy_file_range_in, flags);

	STRUCT(fuse_copy_file_range_out);
	FIELD(fuse_copy_file_range_out, bytes_copied);

	STRUCT(fuse_syncfs_in);
	FIELD(fuse_syncfs_in, padding);

	STRUCT(fuse_backing_map);
	FIELD(fuse_backing_map, fd); FIELD(fuse_backing_map, flags); FIELD(fuse_backing_map, padding);
}

static void constants(void)
{
	OPCODE(FUSE_LOOKUP); OPCODE(FUSE_FORGET); OPCODE(FUSE_GETATTR); OPCODE(FUSE_SETATTR); OPCODE(FUSE_READLINK);
	OPCODE(FUSE_SYMLINK); OPCODE(FUSE_MKNOD); OPCODE(FUSE_MKDIR); OPCODE(FUSE_UNLINK); OPCODE(FUSE_RMDIR);
	OPCODE(FUSE_RENAME); OPCODE(FUSE_LINK); OPCODE(FUSE_OPEN); OPCODE(FUSE_READ); OPCODE(FUSE_WRITE);
	OPCODE(FUSE_STATFS); OPCODE(FUSE_RELEASE); OPCODE(FUSE_FSYNC); OPCODE(FUSE_SETXATTR); OPCODE(FUSE_GETXATTR);
	OPCODE(FUSE_LISTXATTR); OPCODE(FUSE_REMOVEXATTR); OPCODE(FUSE_FLUSH); OPCODE(FUSE_INIT); OPCODE(FUSE_OPENDIR);
	OPCODE(FUSE_READDIR); OPCODE(FUSE_RELEASEDIR); OPCODE(FUSE_FSYNCDIR); OPCODE(FUSE_GETLK); OPCODE(FUSE_SETLK);
	OPCODE(FUSE_SETLKW); OPCODE(FUSE_ACCESS); OPCODE(FUSE_CREATE); OPCODE(FUSE_INTERRUPT); OPCODE(FUSE_BMAP);
	OPCODE(FUSE_DESTROY); OPCODE(FUSE_IOCTL); OPCODE(FUSE_POLL); OPCODE(FUSE_NOTIFY_REPLY); OPCODE(FUSE_BATCH_FORGET);
	OPCODE(FUSE_FALLOCATE); OPCODE(FUSE_READDIRPLUS); OPCODE(FUSE_RENAME2); OPCODE(FUSE_LSEEK);
	OPCODE(FUSE_COPY_FILE_RANGE); OPCODE(FUSE_SETUPMAPPING); OPCODE(FUSE_REMOVEMAPPING); OPCODE(FUSE_SYNCFS);
	OPCODE(FUSE_TMPFILE);
#if FUSE_KERNEL_MINOR_VERSION >= 39
	OPCODE(FUSE_STATX);
#endif
#if FUSE_KERNEL_MINOR_VERSION >= 45
	OPCODE(FUSE_COPY_FILE_RANGE_64);
#endif

	NOTIFY(FUSE_NOTIFY_POLL); NOTIFY(FUSE_NOTIFY_INVAL_INODE); NOTIFY(FUSE_NOTIFY_INVAL_ENTRY);
	NOTIFY(FUSE_NOTIFY_STORE); NOTIFY(FUSE_NOTIFY_RETRIEVE); NOTIFY(FUSE_NOTIFY_DELETE);
#if FUSE_KERNEL_MINOR_VERSION >= 40
	NOTIFY(FUSE_NOTIFY_RESEND);
#endif
#if FUSE_KERNEL_MINOR_VERSION >= 44
	NOTIFY(FUSE_NOTIFY_INC_EPOCH);
#endif
#if FUSE_KERNEL_MINOR_VERSION >= 45
	NOTIFY(FUSE_NOTIFY_PRUNE);
#endif

	INITFLAG32(FUSE_ASYNC_READ); INITFLAG32(FUSE_POSIX_LOCKS); INITFLAG32(FUSE_FILE_OPS);
	INITFLAG32(FUSE_ATOMIC_O_TRUNC); INITFLAG32(FUSE_EXPORT_SUPPORT); INITFLAG32(FUSE_BIG_WRITES);
	INITFLAG32(FUSE_DONT_MASK); INITFLAG32(FUSE_SPLICE_WRITE); INITFLAG32(FUSE_SPLICE_MOVE);
	INITFLAG32(FUSE_SPLICE_READ); INITFLAG32(FUSE_FLOCK_LOCKS); INITFLAG32(FUSE_HAS_IOCTL_DIR);
	INITFLAG32(FUSE_AUTO_INVAL_DATA); INITFLAG32(FUSE_DO_READDIRPLUS); INITFLAG32(FUSE_READDIRPLUS_AUTO);
	INITFLAG32(FUSE_ASYNC_DIO); INITFLAG32(FUSE_WRITEBACK_CACHE); INITFLAG32(FUSE_NO_OPEN_SUPPORT);
	INITFLAG32(FUSE_PARALLEL_DIROPS); INITFLAG32(FUSE_HANDLE_KILLPRIV); INITFLAG32(FUSE_POSIX_ACL);
	INITFLAG32(FUSE_ABORT_ERROR); INITFLAG32(FUSE_MAX_PAGES); INITFLAG32(FUSE_CACHE_SYMLINKS);
	INITFLAG32(FUSE_NO_OPENDIR_SUPPORT); INITFLAG32(FUSE_EXPLICIT_INVAL_DATA); INITFLAG32(FUSE_MAP_ALIGNMENT);
	INITFLAG32(FUSE_SUBMOUNTS); INITFLAG32(FUSE_HANDLE_KILLPRIV_V2); INITFLAG32(FUSE_SETXATTR_EXT);
	INITFLAG32(FUSE_INIT_EXT); INITFLAG32(FUSE_INIT_RESERVED);
	INITFLAG64(FUSE_SECURITY_CTX); INITFLAG64(FUSE_HAS_INODE_DAX);
#ifdef FUSE_CREATE_SUPP_GROUP
	INITFLAG64(FUSE_CREATE_SUPP_GROUP);
#endif
#ifdef FUSE_HAS_EXPIRE_ONLY
	INITFLAG64(FUSE_HAS_EXPIRE_ONLY);
#endif
#ifdef FUSE_DIRECT_IO_ALLOW_MMAP
	INITFLAG64(FUSE_DIRECT_IO_ALLOW_MMAP);
#endif
#ifdef FUSE_PASSTHROUGH
	INITFLAG64(FUSE_PASSTHROUGH);
#endif
#ifdef FUSE_NO_EXPORT_SUPPORT
	INITFLAG64(FUSE_NO_EXPORT_SUPPORT);
#endif
#ifdef FUSE_HAS_RESEND
	INITFLAG64(FUSE_HAS_RESEND);
#endif
#ifdef FUSE_ALLOW_IDMAP
	INITFLAG64(FUSE_ALLOW_IDMAP);
#endif
#ifdef FUSE_OVER_IO_URING
	INITFLAG64(FUSE_OVER_IO_URING);
#endif
#ifdef FUSE_REQUEST_TIMEOUT
	INITFLAG64(FUSE_REQUEST_TIMEOUT);
#endif

	CONST(FUSE_KERNEL_VERSION); CONST(FUSE_ROOT_ID); CONST(FUSE_MIN_READ_BUFFER);
	CONST(FATTR_MODE); CONST(FATTR_UID); CONST(FATTR_GID); CONST(FATTR_SIZE); CONST(FATTR_ATIME); CONST(FATTR_MTIME);
	CONST(FATTR_FH); CONST(FATTR_ATIME_NOW); CONST(FATTR_MTIME_NOW); CONST(FATTR_LOCKOWNER); CONST(FATTR_CTIME);
	CONST(FATTR_KILL_SUIDGID);
	CONST(FOPEN_DIRECT_IO); CONST(FOPEN_KEEP_CACHE); CONST(FOPEN_NONSEEKABLE); CONST(FOPEN_CACHE_DIR);
	CONST(FOPEN_STREAM); CONST(FOPEN_NOFLUSH); CONST(FOPEN_PARALLEL_DIRECT_WRITES);
#ifdef FOPEN_PASSTHROUGH
	CONST(FOPEN_PASSTHROUGH);
#endif
	CONST(FUSE_GETATTR_FH); CONST(FUSE_FSYNC_FDATASYNC);
	CONST(FUSE_DEV_IOC_CLONE);
#ifdef FUSE_DEV_IOC_BACKING_OPEN
	CONST(FUSE_DEV_IOC_BACKING_OPEN); CONST(FUSE_DEV_IOC_BACKING_CLOSE);
#endif
	/* Where a record's name starts; ReadDirRequest writes it right after the fixed struct. */
	CONST(FUSE_NAME_OFFSET); CONST(FUSE_NAME_OFFSET_DIRENTPLUS);
	CONST(FUSE_KERNEL_MINOR_VERSION);
}

/* What the kernel sends for each opcode (fs/fuse: the in_args of each request) and the reply size where it is fixed:
 * OperationTableTests compares them with Engine/Protocol/Operations.cs. Opcodes the header lacks are printed by name. */
#define OP(op, body, names) printf("opbody %s %zu\nopnames %s %d\n", #op, (size_t)(body), #op, names)
#define REPLY(op, size) printf("opreply %s %zu\n", #op, (size_t)(size))
#define S(tag) sizeof(struct tag)

static void operations(void)
{
	OP(FUSE_LOOKUP, 0, 1);                              REPLY(FUSE_LOOKUP, S(fuse_entry_out));
	OP(FUSE_FORGET, S(fuse_forget_in), 0);
	OP(FUSE_GETATTR, S(fuse_getattr_in), 0);            REPLY(FUSE_GETATTR, S(fuse_attr_out));
	OP(FUSE_SETATTR, S(fuse_setattr_in), 0);            REPLY(FUSE_SETATTR, S(fuse_attr_out));
	OP(FUSE_READLINK, 0, 0);
	OP(FUSE_SYMLINK, 0, 2);                             REPLY(FUSE_SYMLINK, S(fuse_entry_out));
	OP(FUSE_MKNOD, S(fuse_mknod_in), 1);                REPLY(FUSE_MKNOD, S(fuse_entry_out));
	OP(FUSE_MKDIR, S(fuse_mkdir_in), 1);                REPLY(FUSE_MKDIR, S(fuse_entry_out));
	OP(FUSE_UNLINK, 0, 1);
	OP(FUSE_RMDIR, 0, 1);
	OP(FUSE_RENAME, S(fuse_rename_in), 2);
	OP(FUSE_LINK, S(fuse_link_in), 1);                  REPLY(FUSE_LINK, S(fuse_entry_out));
	OP(FUSE_OPEN, S(fuse_open_in), 0);                  REPLY(FUSE_OPEN, S(fuse_open_out));
	OP(FUSE_READ, S(fuse_read_in), 0);
	OP(FUSE_WRITE, S(fuse_write_in), 0);                REPLY(FUSE_WRITE, S(fuse_write_out));
	OP(FUSE_STATFS, 0, 0);                              REPLY(FUSE_STATFS, S(fuse_statfs_out));
	OP(FUSE_RELEASE, S(fuse_release_in), 0);
	OP(FUSE_FSYNC, S(fuse_fsync_in), 0);
	/* Without SETXATTR_EXT the kernel sends only the first 8 bytes of fuse_setxattr_in. */
	OP(FUSE_SETXATTR, FUSE_COMPAT_SETXATTR_IN_SIZE, 1);
	OP(FUSE_GETXATTR, S(fuse_getxattr_in), 1);
	OP(FUSE_LISTXATTR, S(fuse_getxattr_in), 0);
	OP(FUSE_REMOVEXATTR, 0, 1);
	OP(FUSE_FLUSH, S(fuse_flush_in), 0);
	OP(FUSE_INIT, S(fuse_init_in), 0);
	OP(FUSE_OPENDIR, S(fuse_open_in), 0);               REPLY(FUSE_OPENDIR, S(fuse_open_out));
	OP(FUSE_READDIR, S(fuse_read_in), 0);
	OP(FUSE_RELEASEDIR, S(fuse_release_in), 0);
	OP(FUSE_FSYNCDIR, S(fuse_fsync_in), 0);
	OP(FUSE_GETLK, S(fuse_lk_in), 0);                   REPLY(FUSE_GETLK, S(fuse_lk_out));
	OP(FUSE_SETLK, S(fuse_lk_in), 0);
	OP(FUSE_SETLKW, S(fuse_lk_in), 0);
	OP(FUSE_ACCESS, S(fuse_access_in), 0);
	OP(FUSE_CREATE, S(fuse_create_in), 1);              REPLY(FUSE_CREATE, S(fuse_entry_out) + S(fuse_open_out));
	OP(FUSE_INTERRUPT, S(fuse_interrupt_in), 0);
	OP(FUSE_BMAP, S(fuse_bmap_in), 0);                  REPLY(FUSE_BMAP, S(fuse_bmap_out));
	OP(FUSE_DESTROY, 0, 0);
	OP(FUSE_IOCTL, S(fuse_ioctl_in), 0);
	OP(FUSE_POLL, S(fuse_poll_in), 0);                  REPLY(FUSE_POLL, S(fuse_poll_out));
	OP(FUSE_NOTIFY_REPLY, S(fuse_notify_retrieve_in), 0);
	OP(FUSE_BATCH_FORGET, S(fuse_batch_forget_in), 0);
	OP(FUSE_FALLOCATE, S(fuse_fallocate_in), 0);
	OP(FUSE_READDIRPLUS, S(fuse_read_in), 0);
	OP(FUSE_RENAME2, S(fuse_rename2_in), 2);
	OP(FUSE_LSEEK, S(fuse_lseek_in), 0);                REPLY(FUSE_LSEEK, S(fuse_lseek_out));
	OP(FUSE_COPY_FILE_RANGE, S(fuse_copy_file_range_in), 0); REPLY(FUSE_COPY_FILE_RANGE, S(fuse_write_out));
	OP(FUSE_SETUPMAPPING, S(fuse_setupmapping_in), 0);
	OP(FUSE_REMOVEMAPPING, S(fuse_removemapping_in), 0);
	OP(FUSE_SYNCFS, S(fuse_syncfs_in), 0);
	OP(FUSE_TMPFILE, S(fuse_create_in), 1);             REPLY(FUSE_TMPFILE, S(fuse_entry_out) + S(fuse_open_out));
	OP(FUSE_STATX, S(fuse_statx_in), 0);                REPLY(FUSE_STATX, S(fuse_statx_out));
	OP(FUSE_COPY_FILE_RANGE_64, S(fuse_copy_file_range_in), 0); REPLY(FUSE_COPY_FILE_RANGE_64, S(fuse_copy_file_range_out));
}

int main(void)
{
	structs();
	constants();
	operations();
	return 0;
}
