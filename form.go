package alipaynotify

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/bits"
	"slices"
	"sync"
)

// DefaultMaxParams bounds how many parameters one callback may carry. Real
// notifications have about 30.
const DefaultMaxParams = 256

// rawParam is one parameter after exactly one percent-decoding: the bytes as
// sent in the callback's charset. key and val alias form.buf.
type rawParam struct {
	key, val   []byte
	koff, voff int // offsets of key and val in form.buf
}

// form is a parsed application/x-www-form-urlencoded body or query, kept as
// raw bytes so that signatures are checked over exactly what Alipay signed.
type form struct {
	buf    []byte
	params []rawParam // sorted by key after parse
}

var formPool = sync.Pool{New: func() any { return new(form) }}

func getForm() *form { return formPool.Get().(*form) }

func putForm(f *form) {
	if cap(f.buf) > 1<<20 || cap(f.params) > 4096 {
		return // do not keep huge buffers alive
	}
	f.buf = f.buf[:0]
	f.params = f.params[:0]
	formPool.Put(f)
}

// parse decodes raw into f: '&'-separated "key=value" pairs, '+' as space,
// %XX as one byte. Empty segments are skipped. Keys must be non-empty and
// unique. The result is sorted by key bytes, the order Alipay signs in.
func (f *form) parse(raw []byte, maxParams int) error {
	if cap(f.buf) < len(raw) {
		f.buf = make([]byte, 0, len(raw))
	}
	f.buf = f.buf[:0]
	f.params = f.params[:0]
	for len(raw) > 0 {
		var seg []byte
		if i := bytes.IndexByte(raw, '&'); i >= 0 {
			seg, raw = raw[:i], raw[i+1:]
		} else {
			seg, raw = raw, nil
		}
		if len(seg) == 0 {
			continue
		}
		if len(f.params) == maxParams {
			return fieldErr(ErrMalformed, "", "too many parameters")
		}
		k, v := seg, []byte(nil)
		if i := bytes.IndexByte(seg, '='); i >= 0 {
			k, v = seg[:i], seg[i+1:]
		}
		start := len(f.buf)
		var ok bool
		if f.buf, ok = appendUnescaped(f.buf, k); !ok {
			return fieldErr(ErrMalformed, safeField(k), "invalid percent-encoding in key")
		}
		kEnd := len(f.buf)
		if kEnd == start {
			return fieldErr(ErrMalformed, "", "empty parameter name")
		}
		if f.buf, ok = appendUnescaped(f.buf, v); !ok {
			return fieldErr(ErrMalformed, safeField(f.buf[start:kEnd]), "invalid percent-encoding in value")
		}
		f.params = append(f.params, rawParam{
			key: f.buf[start:kEnd:kEnd], val: f.buf[kEnd:len(f.buf):len(f.buf)],
			koff: start, voff: kEnd,
		})
	}
	sortParams(f.params)
	for i := 1; i < len(f.params); i++ {
		if bytes.Equal(f.params[i].key, f.params[i-1].key) {
			return fieldErr(ErrMalformed, safeField(f.params[i].key), "duplicate parameter")
		}
	}
	return nil
}

// sortParams sorts by key. A callback has about 30 parameters, few enough
// for insertion sort to beat pdqsort 2.4x on sorted input and 1.3x on
// Alipay's order; more, which only a forgery sends, take pdqsort.
func sortParams(ps []rawParam) {
	if len(ps) > 40 {
		slices.SortFunc(ps, func(a, b rawParam) int { return bytes.Compare(a.key, b.key) })
		return
	}
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && bytes.Compare(ps[j].key, ps[j-1].key) < 0; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// get returns the raw value of key and whether it is present.
func (f *form) get(key string) ([]byte, bool) {
	lo, hi := 0, len(f.params) // binary search: the params are sorted by key
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if string(f.params[m].key) < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(f.params) || string(f.params[lo].key) != key {
		return nil, false
	}
	return f.params[lo].val, true
}

// has reports whether key is present with a non-empty value. An empty
// parameter is not signed under the drop-empty rule, so it must never decide
// anything.
func (f *form) has(key string) bool {
	v, ok := f.get(key)
	return ok && len(v) > 0
}

func (f *form) hasEmptyValue() bool {
	for _, p := range f.params {
		if len(p.val) == 0 && string(p.key) != "sign" {
			return true
		}
	}
	return false
}

// appendUnescaped appends the form-decoding of s to dst. Runs of plain bytes
// are copied whole; only '+' and '%XX' are handled one at a time.
func appendUnescaped(dst, s []byte) ([]byte, bool) {
	for {
		i := escapeIndex(s)
		dst = append(dst, s[:i]...)
		if i == len(s) {
			return dst, true
		}
		if s[i] == '+' {
			dst = append(dst, ' ')
			s = s[i+1:]
			continue
		}
		if i+2 >= len(s) {
			return dst, false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return dst, false
		}
		dst = append(dst, hi<<4|lo)
		s = s[i+3:]
	}
}

// escapeIndex returns the index of the first '%' or '+' in s, or len(s).
// It tests eight bytes at a time: x^('%'*ones) has a zero byte where x
// holds '%', and (y-ones)&^y&highs sets the high bit of the lowest zero byte
// of y (it may also set bits above it, never below), so the lowest bit of
// the mask marks the first escape.
func escapeIndex(s []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; len(s)-i >= 8; i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		pct, plus := x^('%'*ones), x^('+'*ones)
		if m := ((pct-ones)&^pct | (plus-ones)&^plus) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(s); i++ {
		if s[i] == '%' || s[i] == '+' {
			return i
		}
	}
	return len(s)
}

func unhex(c byte) (byte, bool) {
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

// contentRule says how the string-to-sign is built from the parameters.
type contentRule struct {
	// withSignType includes sign_type (the V2 rule of gateway messages); V1,
	// the rule of trade notifications and returns, leaves it out.
	withSignType bool
	// keepEmpty includes "k=" pairs for empty values.
	keepEmpty bool
}

// contentPool holds scratch buffers for the string-to-sign.
var contentPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// appendContent appends the sorted "k=v&k=v" string-to-sign to dst; sign is
// never part of it.
func (f *form) appendContent(dst []byte, rule contentRule) []byte {
	first := true
	for _, p := range f.params {
		if string(p.key) == "sign" || (string(p.key) == "sign_type" && !rule.withSignType) || (!rule.keepEmpty && len(p.val) == 0) {
			continue
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		dst = append(dst, p.key...)
		dst = append(dst, '=')
		dst = append(dst, p.val...)
	}
	return dst
}

// writeContent writes the string-to-sign to w (a hash) in one Write.
func (f *form) writeContent(w io.Writer, rule contentRule) {
	bp := contentPool.Get().(*[]byte)
	*bp = f.appendContent((*bp)[:0], rule)
	w.Write(*bp)
	if cap(*bp) <= 64<<10 {
		contentPool.Put(bp)
	}
}
