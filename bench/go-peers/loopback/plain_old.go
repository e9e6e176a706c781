//go:build !gofuse_passthrough

package main

import "github.com/hanwen/go-fuse/v2/fs"

// go-fuse before 2.7 has no kernel passthrough: the loopback file is plain as it is.
func plainFile(fh fs.FileHandle) fs.FileHandle { return fh }
