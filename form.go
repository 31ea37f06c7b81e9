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
	// amp is set when an escape in the parameter decoded to '&': only then
	// can its value hold a parameter boundary (checkBoundaries).
	amp bool
}

// form is a parsed application/x-www-form-urlencoded body or query, kept as
// raw bytes so that signatures are checked over exactly what Alipay signed.
type form struct {
	buf    []byte
	params []rawParam // sorted by key after parse
	// ampIn is one plus where the key of the last parameter in which an
	// escape decoded to '&' starts in buf (0: none yet), for rawParam.amp.
	ampIn int
	// content is scratch room for the string-to-sign.
	content []byte
	// entries holds each parameter's entry in fieldTable, or nil: parse
	// looks every name up once.
	entries []*fieldEntry
	// slots holds where each envelope field is in params, plus one (0:
	// absent).
	slots [numSlots]int32
	// specs holds, for each parameter that reaches Params (in order), its
	// entry in fields, or nil: checkBoundaries records them from entries,
	// and fill reads them instead of looking the names up again.
	specs []*fieldSpec
}

var formPool = sync.Pool{New: func() any { return new(form) }}

func getForm() *form { return formPool.Get().(*form) }

func putForm(f *form) {
	if cap(f.buf) > 1<<20 || cap(f.params) > 4096 || cap(f.content) > 1<<20 || cap(f.specs) > 4096 || cap(f.entries) > 4096 {
		return // do not keep huge buffers alive
	}
	f.buf = f.buf[:0]
	f.params = f.params[:0]
	f.content = f.content[:0]
	clear(f.specs)
	f.specs = f.specs[:0]
	clear(f.entries)
	f.entries = f.entries[:0]
	f.slots = [numSlots]int32{}
	formPool.Put(f)
}

// parse decodes raw into f: '&'-separated "key=value" pairs, '+' as space,
// %XX as one byte. Empty segments are skipped. Keys must be non-empty and
// unique. The result is sorted by key bytes, the order Alipay signs in.
//
// It is one pass over raw, eight bytes at a time: each word is copied to
// buf whole, and the bytes of it that may be '&', '=', '%' or '+'
// (specialBytes) are then handled in order. '&' and '=' are kept in buf
// (a parameter's key and value lie between them) and '+' becomes a space
// in place, so none of them moves what follows; a run of %XX escapes is
// decoded on its own, and the copy resumes after it. The last word is
// padded with an '&' that ends the last segment, then zeros. Decoding
// never lengthens the text, so the output fits in len(raw)+1 bytes, and
// buf has a word of room past len(raw) for the last word.
func (f *form) parse(raw []byte, maxParams int) error {
	if cap(f.buf) < len(raw)+8 {
		f.buf = make([]byte, len(raw)+8)
	}
	buf := f.buf[: len(raw)+8 : len(raw)+8]
	f.params = f.params[:0]
	n := 0     // bytes decoded into buf
	start := 0 // where the current segment's key starts in buf
	kEnd := -1 // where its key ends in buf ('=' is there); -1 while still in the key
	f.ampIn = 0
word:
	for i := 0; ; {
		var x uint64
		if len(raw)-i >= 8 {
			x = binary.LittleEndian.Uint64(raw[i : i+8])
		} else {
			var tail [8]byte
			tail[copy(tail[:], raw[i:])] = '&' // then zeros, which are not special
			x = binary.LittleEndian.Uint64(tail[:])
		}
		binary.LittleEndian.PutUint64(buf[n:n+8], x)
		for m := specialBytes(x); m != 0; m &= m - 1 {
			b := bits.TrailingZeros64(m) &^ 7 // bit offset of the byte
			k := b / 8
			switch byte(x >> b) {
			case '&':
				end := n + k
				if end > start { // empty segments are skipped (every byte of raw decodes to one)
					if len(f.params) == maxParams {
						return fieldErr(ErrMalformed, "", "too many parameters")
					}
					vStart := kEnd + 1
					if kEnd < 0 {
						kEnd, vStart = end, end // no '=': a key with an empty value
					}
					if kEnd == start {
						return fieldErr(ErrMalformed, "", "empty parameter name")
					}
					f.params = append(f.params, rawParam{
						key: buf[start:kEnd:kEnd], val: buf[vStart:end:end],
						koff: start, voff: vStart, amp: f.ampIn == start+1,
					})
				}
				if i+k == len(raw) { // the '&' after the last word
					f.buf = buf[:n+k]
					break word
				}
				start, kEnd = end+1, -1
			case '=':
				if kEnd < 0 {
					kEnd = n + k
				}
			case '+':
				buf[n+k] = ' '
			case '%':
				// Escapes come in runs (UTF-8 text, JSON): decode the run
				// here, then copy on from the byte after it.
				i, n = i+k, n+k
				for {
					if len(raw)-i < 3 {
						return f.badEscape(raw[bytes.LastIndexByte(raw[:i], '&')+1:], buf, start, kEnd, maxParams)
					}
					e := raw[i : i+3]
					hi, lo := hexValues[e[1]], hexValues[e[2]]
					if hi|lo == 0xff {
						return f.badEscape(raw[bytes.LastIndexByte(raw[:i], '&')+1:], buf, start, kEnd, maxParams)
					}
					c := hi<<4 | lo
					buf[n] = c
					if c == '&' {
						f.ampIn = start + 1
					}
					n, i = n+1, i+3
					if i == len(raw) || raw[i] != '%' {
						continue word
					}
				}
			}
		}
		i, n = i+8, n+8
	}
	sortParams(f.params)
	for i := 1; i < len(f.params); i++ {
		if bytes.Equal(f.params[i].key, f.params[i-1].key) {
			return fieldErr(ErrMalformed, safeField(f.params[i].key), "duplicate parameter")
		}
	}
	f.slots = [numSlots]int32{}
	f.entries = f.entries[:0]
	for i := range f.params {
		p := &f.params[i]
		e := lookupEntry(p.key)
		f.entries = append(f.entries, e)
		if e != nil && e.slot != noSlot {
			f.slots[e.slot] = int32(i + 1)
		}
	}
	return nil
}

// badEscape is the error for an invalid %XX in the segment that begins
// rawSeg, whose key starts at start in buf and ends at kEnd (-1 while the
// key is being read). The checks come in the order a segment is read: the
// parameter bound, the key's encoding, the key being empty, the value's
// encoding.
func (f *form) badEscape(rawSeg, buf []byte, start, kEnd, maxParams int) error {
	switch {
	case len(f.params) == maxParams:
		return fieldErr(ErrMalformed, "", "too many parameters")
	case kEnd < 0:
		if i := bytes.IndexByte(rawSeg, '&'); i >= 0 {
			rawSeg = rawSeg[:i]
		}
		if i := bytes.IndexByte(rawSeg, '='); i >= 0 {
			rawSeg = rawSeg[:i]
		}
		return fieldErr(ErrMalformed, safeField(rawSeg), "invalid percent-encoding in key")
	case kEnd == start:
		return fieldErr(ErrMalformed, "", "empty parameter name")
	}
	return fieldErr(ErrMalformed, safeField(buf[start:kEnd]), "invalid percent-encoding in value")
}

// specialBytes sets the high bit of every byte of x in '%'..'+' (that is
// % & ' ( ) * +) or equal to '=': every '&', '=', '%' and '+', and the few
// other bytes of that range, which parse copies as they are. Each byte is
// tested alone: its low seven bits y are below 0x80, so y+0x5b, y+0x54 and
// (y^'=')+0x7f carry into no other byte; their high bits say y >= '%',
// y >= ','  and y != '='. A byte with its own high bit set is none of these.
func specialBytes(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	y := x &^ highs
	inRange := (y + (0x80-'%')*ones) &^ (y + (0x80-',')*ones)
	eq := ^((y ^ '='*ones) + 0x7f*ones)
	return (inRange | eq) &^ x & highs
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
		for j := i; j > 0; j-- {
			a, b := ps[j].key, ps[j-1].key
			if len(a) > 0 && len(b) > 0 && a[0] != b[0] { // as keyLess
				if a[0] > b[0] {
					break
				}
			} else if bytes.Compare(a, b) >= 0 {
				break
			}
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// keyLess reports whether parameter name a sorts before b. Names mostly
// differ in their first byte, which it compares without a call.
func keyLess(a []byte, b string) bool {
	if len(a) > 0 && len(b) > 0 && a[0] != b[0] {
		return a[0] < b[0]
	}
	return string(a) < b
}

// get returns the raw value of key and whether it is present.
func (f *form) get(key string) ([]byte, bool) {
	p, ok := f.lookup(key)
	return p.val, ok
}

// inSlot returns the parameter in slot s and whether it is present: what
// lookup(slotNames[s]) returns, found without a search.
func (f *form) inSlot(s slot) (rawParam, bool) {
	i := f.slots[s]
	if i == 0 {
		return rawParam{}, false
	}
	return f.params[i-1], true
}

// getSlot is get(slotNames[s]).
func (f *form) getSlot(s slot) ([]byte, bool) {
	p, ok := f.inSlot(s)
	return p.val, ok
}

// hasSlot is has(slotNames[s]).
func (f *form) hasSlot(s slot) bool {
	p, ok := f.inSlot(s)
	return ok && len(p.val) > 0
}

// lookup returns the parameter key and whether it is present.
func (f *form) lookup(key string) (rawParam, bool) {
	lo, hi := 0, len(f.params) // binary search: the params are sorted by key
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if keyLess(f.params[m].key, key) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(f.params) || string(f.params[lo].key) != key {
		return rawParam{}, false
	}
	return f.params[lo], true
}

// has reports whether key is present with a non-empty value. An empty
// parameter is not signed under the drop-empty rule, so it must never decide
// anything.
func (f *form) has(key string) bool {
	v, ok := f.get(key)
	return ok && len(v) > 0
}

func (f *form) hasEmptyValue() bool {
	for i := range f.params {
		p := &f.params[i]
		if len(p.val) == 0 && string(p.key) != "sign" {
			return true
		}
	}
	return false
}

// hexValues maps a hex digit (either case) to its value and every other
// byte to 0xff.
var hexValues = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range byte(16) {
		t["0123456789abcdef"[i]] = i
		t["0123456789ABCDEF"[i]] = i
	}
	return t
}()

// contentRule says how the string-to-sign is built from the parameters.
type contentRule struct {
	// withSignType includes sign_type (the V2 rule of gateway messages); V1,
	// the rule of trade notifications and returns, leaves it out.
	withSignType bool
	// keepEmpty includes "k=" pairs for empty values.
	keepEmpty bool
}

// appendContent appends the sorted "k=v&k=v" string-to-sign to dst; sign is
// never part of it.
func (f *form) appendContent(dst []byte, rule contentRule) []byte {
	first := true
	for i := range f.params {
		p := &f.params[i]
		if string(p.key) == "sign" || (string(p.key) == "sign_type" && !rule.withSignType) || (!rule.keepEmpty && len(p.val) == 0) {
			continue
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		if p.voff == p.koff+len(p.key)+1 { // parsed with '=': "k=v" lies in buf as is
			dst = append(dst, f.buf[p.koff:p.voff+len(p.val)]...)
			continue
		}
		dst = append(dst, p.key...)
		dst = append(dst, '=')
		dst = append(dst, p.val...)
	}
	return dst
}

// writeContent writes the string-to-sign to w (a hash) in one Write.
func (f *form) writeContent(w io.Writer, rule contentRule) {
	f.content = f.appendContent(f.content[:0], rule)
	w.Write(f.content)
}
