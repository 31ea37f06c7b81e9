package alipaynotify

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// refUnhex is the hex digit test as it was before the hexValues table.
func refUnhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func TestHexValuesMatchReference(t *testing.T) {
	for c := range 256 {
		v, ok := refUnhex(byte(c))
		if got := hexValues[c]; ok && got != v || !ok && got != 0xff {
			t.Fatalf("hexValues[%#x] = %#x, want %#x (hex digit: %v)", c, got, v, ok)
		}
	}
}

// refParse is the form parser as it was before the one-pass parse: split on
// '&', then on the first '=', then percent-decode key and value byte by
// byte. parse must accept exactly what it accepts, with the same
// parameters, and refuse the rest with the same error.
func refParse(raw []byte, maxParams int) ([]rawParam, error) {
	unescape := func(s []byte) ([]byte, bool) {
		out := []byte{}
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '+':
				out = append(out, ' ')
			case '%':
				if i+2 >= len(s) {
					return nil, false
				}
				hi, ok1 := refUnhex(s[i+1])
				lo, ok2 := refUnhex(s[i+2])
				if !ok1 || !ok2 {
					return nil, false
				}
				out = append(out, hi<<4|lo)
				i += 2
			default:
				out = append(out, s[i])
			}
		}
		return out, true
	}
	var params []rawParam
	for _, seg := range bytes.Split(raw, []byte("&")) {
		if len(seg) == 0 {
			continue
		}
		if len(params) == maxParams {
			return nil, fieldErr(ErrMalformed, "", "too many parameters")
		}
		k, v, _ := bytes.Cut(seg, []byte("="))
		key, ok := unescape(k)
		if !ok {
			return nil, fieldErr(ErrMalformed, safeField(k), "invalid percent-encoding in key")
		}
		if len(key) == 0 {
			return nil, fieldErr(ErrMalformed, "", "empty parameter name")
		}
		val, ok := unescape(v)
		if !ok {
			return nil, fieldErr(ErrMalformed, safeField(key), "invalid percent-encoding in value")
		}
		params = append(params, rawParam{key: key, val: val})
	}
	sortParams(params)
	for i := 1; i < len(params); i++ {
		if bytes.Equal(params[i].key, params[i-1].key) {
			return nil, fieldErr(ErrMalformed, safeField(params[i].key), "duplicate parameter")
		}
	}
	return params, nil
}

// checkParseMatchesReference parses raw with parse and refParse and fails
// unless both give the same parameters or the same error.
func checkParseMatchesReference(t *testing.T, raw []byte, maxParams int) {
	t.Helper()
	f := getForm()
	defer putForm(f)
	err := f.parse(raw, maxParams)
	want, wantErr := refParse(raw, maxParams)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("parse(%q, %d): error %v, reference %v", raw, maxParams, err, wantErr)
	}
	if err != nil {
		return
	}
	if len(f.params) != len(want) {
		t.Fatalf("parse(%q): %d parameters, reference %d", raw, len(f.params), len(want))
	}
	for i, p := range f.params {
		w := want[i]
		if !bytes.Equal(p.key, w.key) || !bytes.Equal(p.val, w.val) {
			t.Fatalf("parse(%q): parameter %d is %q=%q, reference %q=%q", raw, i, p.key, p.val, w.key, w.val)
		}
		if !bytes.Equal(f.buf[p.koff:p.koff+len(p.key)], p.key) || !bytes.Equal(f.buf[p.voff:p.voff+len(p.val)], p.val) {
			t.Fatalf("parse(%q): parameter %d's offsets do not point at it in buf", raw, i)
		}
		// A '&' in a parameter can only come from an escape: amp says so.
		if amp := bytes.IndexByte(p.key, '&') >= 0 || bytes.IndexByte(p.val, '&') >= 0; p.amp != amp {
			t.Fatalf("parse(%q): parameter %d has amp %v, want %v", raw, i, p.amp, amp)
		}
	}
}

func TestParseMatchesReference(t *testing.T) {
	for _, raw := range []string{
		"", "&", "&&", "a", "a=", "=", "=a", "a==b", "a=b=c", "a=1&a=2", "a=1&&b=2&",
		"a=%", "a=%4", "a=%41", "a=%4g", "%zz=1", "%4", "a%3D=b", "a=b%26c%3Dd",
		"+=+", "a+b=c+d", "k=%E6%B5%8B%E8%AF%95", "=%zz", "a=1&%zz", "a=1&b=%zz",
		"0123456789abcdef=0123456789abcdef&x=%41%42%43%44%45%46%47%48%49",
		"sign=abc%2B%2F%3D%3D&sign_type=RSA2&subject=a+%26+b",
		"a=%26&b=1&c%26=2&d=x%26y%26z&e=%2526", "%26=1&x=2", "a=1%26&&b=2%26",
	} {
		for _, maxParams := range []int{0, 1, 2, DefaultMaxParams} {
			checkParseMatchesReference(t, []byte(raw), maxParams)
		}
	}
	seeds, _ := filepath.Glob("testdata/*.json")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		checkParseMatchesReference(t, b, DefaultMaxParams)
	}
	r := rand.New(rand.NewPCG(13, 13))
	alphabet := []byte("&&==%%++aZ09_-4fFgG*(\x00\x80\xff\xa5\xbd")
	for range 200000 {
		raw := make([]byte, r.IntN(40))
		for i := range raw {
			raw[i] = alphabet[r.IntN(len(alphabet))]
		}
		checkParseMatchesReference(t, raw, r.IntN(6))
	}
}

// FuzzParseMatchesReference checks parse against refParse on every input.
func FuzzParseMatchesReference(f *testing.F) {
	f.Add([]byte("a=1&b=%E6%B5%8B&c=+&d=%zz&&e"), 3)
	f.Add([]byte("sign=abc%2B%2F%3D%3D&sign_type=RSA2&subject=a+%26+b"), DefaultMaxParams)
	f.Fuzz(func(t *testing.T, raw []byte, maxParams int) {
		checkParseMatchesReference(t, raw, max(maxParams%300, 0))
	})
}

// TestSpecialBytes checks that specialBytes marks exactly the bytes of
// '%'..'+' and '=' in every word, whatever the bytes around them.
func TestSpecialBytes(t *testing.T) {
	check := func(w []byte) {
		t.Helper()
		m := specialBytes(binary.LittleEndian.Uint64(w))
		for i, c := range w {
			want := '%' <= c && c <= '+' || c == '='
			if got := m>>(8*i+7)&1 == 1; got != want || m>>(8*i)&0x7f != 0 {
				t.Fatalf("specialBytes(%q) = %#x: byte %d (%q) marked %v, want %v", w, m, i, c, got, want)
			}
		}
	}
	w := make([]byte, 8)
	for _, bg := range []byte{'a', '$', '\'', '*', ',', '<', '>', 0x00, 0x01, 0x24, 0x26, 0x2a, 0x2c, 0x7f, 0x80, 0xa5, 0xab, 0xbd, 0xff} {
		for i := range w {
			w[i] = bg
		}
		for pos := range 8 {
			for c := range 256 {
				w[pos] = byte(c)
				check(w)
				for pos2 := pos + 1; pos2 < 8; pos2++ {
					for _, c2 := range []byte("&=%+") {
						w[pos2] = c2
						check(w)
						w[pos2] = bg
					}
				}
			}
			w[pos] = bg
		}
	}
	r := rand.New(rand.NewPCG(7, 7))
	for range 200000 {
		binary.LittleEndian.PutUint64(w, r.Uint64())
		check(w)
	}
}

// TestToUTF8Params checks that Params hold every signed parameter as
// decoded, wherever the signature sits in the body (toUTF8 copies the
// decoded body without it).
func TestToUTF8Params(t *testing.T) {
	for _, raw := range []string{
		"sign=c2ln&a=1&b=%E6%B5%8B",
		"a=1&sign=c2ln%2B%2F%3D%3D&b=%E6%B5%8B&c=",
		"a=1&b=%E6%B5%8B+x&sign=c2ln",
		"a=1&b=2",
		"sign=&a=1",
		"z=last&sign=c2ln&a=first&m=%26middle%3D",
	} {
		f := getForm()
		if err := f.parse([]byte(raw), DefaultMaxParams); err != nil {
			t.Fatal(err)
		}
		var want Params
		for _, p := range f.params {
			if len(p.val) > 0 && string(p.key) != "sign" {
				want = append(want, Param{Key: string(p.key), Value: string(p.val)})
			}
		}
		got, err := toUTF8(f, UTF8)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("toUTF8(%q) = %q, want %q", raw, got, want)
		}
		putForm(f)
	}
}
