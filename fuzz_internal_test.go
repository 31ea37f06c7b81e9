package alipaynotify

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseForm checks the form parser against net/url on every input: it
// never panics, and whenever both accept, they agree on every key and value.
func FuzzParseForm(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("a=1&b=%E6%B5%8B&c=+&d=%zz&&e"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fm := getForm()
		defer putForm(fm)
		err := fm.parse(raw, DefaultMaxParams)
		if err != nil {
			return
		}
		for i := 1; i < len(fm.params); i++ {
			if bytes.Compare(fm.params[i-1].key, fm.params[i].key) >= 0 {
				t.Fatalf("params not strictly sorted")
			}
		}
		std, stdErr := url.ParseQuery(string(raw))
		if stdErr != nil {
			return // net/url rejects ';' and a few other things we accept
		}
		for _, p := range fm.params {
			vals := std[string(p.key)]
			if len(vals) != 1 || vals[0] != string(p.val) {
				t.Fatalf("key %q: ours %q, net/url %q", p.key, p.val, vals)
			}
		}
	})
}
