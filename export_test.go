package alipaynotify

// WAPBlockDecryptions returns how many RSA blocks of sec_id=0001
// notify_data have been decrypted with a merchant key so far in this test
// binary.
func WAPBlockDecryptions() uint64 { return wapBlockDecryptions.Load() }
