package alipaynotify

import (
	"maps"
	"slices"
)

// WAPBlockDecryptions returns how many RSA blocks of sec_id=0001
// notify_data have been decrypted with a merchant key so far in this test
// binary.
func WAPBlockDecryptions() uint64 { return wapBlockDecryptions.Load() }

// FieldNames lists every parameter name the library knows (fields.go), for
// the re-cut property test.
func FieldNames() []string { return slices.Sorted(maps.Keys(fields)) }
