package merchant

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/alipaynotify/alipaynotify"
)

// ErrOrderLine is what a malformed line of an orders file is reported as
// (inside an *OrderLineError).
var ErrOrderLine = errors.New("merchant: malformed order line")

// OrderLineError is a line of an orders file that is not
// "out_trade_no amount".
type OrderLineError struct {
	// Path and Line locate it (Line is 1-based).
	Path string
	Line int
	// Reason says what is wrong.
	Reason string
}

// Error returns "path:line: reason".
func (e *OrderLineError) Error() string {
	return fmt.Sprintf("%s:%d: %s (want \"out_trade_no amount\", amount in yuan, e.g. \"ORDER-7 88.88\")", e.Path, e.Line, e.Reason)
}

// Unwrap returns ErrOrderLine.
func (e *OrderLineError) Unwrap() error { return ErrOrderLine }

// FileOrders is the shop's order book kept in a text file
// (ALIPAY_ORDERS_FILE), one order a line:
//
//	# comments and blank lines are ignored
//	ORDER-7 88.88
//
// out_trade_no, blanks, then the amount in yuan. The file is read again
// whenever its size or modification time changes, so orders appended by
// another process (alipaysim's -orders-file, or your checkout) are seen. A
// missing file is an empty book; an order listed twice keeps its first
// amount. It is safe for concurrent use.
type FileOrders struct {
	path string

	mu      sync.Mutex
	size    int64
	modTime time.Time
	read    bool
	amounts map[string]alipaynotify.Amount
	order   []string // out_trade_nos in file order
	err     error    // the last read's error
}

// NewFileOrders returns the order book kept in path. It reads nothing yet.
func NewFileOrders(path string) *FileOrders {
	return &FileOrders{path: path}
}

// OrderAmount implements Orders.
func (f *FileOrders) OrderAmount(_ context.Context, outTradeNo string) (alipaynotify.Amount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refresh(); err != nil {
		return 0, err
	}
	a, ok := f.amounts[outTradeNo]
	if !ok {
		return 0, ErrUnknownOrder
	}
	return a, nil
}

// List returns the orders of the book, in file order.
func (f *FileOrders) List() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refresh(); err != nil {
		return nil, err
	}
	return append([]string(nil), f.order...), nil
}

// refresh reads the file again if it changed since the last read.
func (f *FileOrders) refresh() error {
	fi, err := os.Stat(f.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f.read, f.size, f.modTime, f.amounts, f.order, f.err = true, -1, time.Time{}, nil, nil, nil
		return nil
	case err != nil:
		return err
	case f.read && fi.Size() == f.size && fi.ModTime().Equal(f.modTime):
		return f.err
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return err
	}
	f.read, f.size, f.modTime = true, fi.Size(), fi.ModTime()
	f.amounts, f.order, f.err = parseOrders(f.path, data)
	if f.err == nil && int64(len(data)) != fi.Size() {
		f.size = -1 // written meanwhile: read again next time
	}
	return f.err
}

// parseOrders reads an orders file.
func parseOrders(path string, data []byte) (map[string]alipaynotify.Amount, []string, error) {
	amounts := map[string]alipaynotify.Amount{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, nil, &OrderLineError{Path: path, Line: n, Reason: fmt.Sprintf("%d fields", len(fields))}
		}
		a, err := alipaynotify.ParseAmount(fields[1])
		if err != nil || a < 0 {
			return nil, nil, &OrderLineError{Path: path, Line: n, Reason: fmt.Sprintf("amount %q", fields[1])}
		}
		if _, dup := amounts[fields[0]]; !dup {
			amounts[fields[0]] = a
			order = append(order, fields[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, &OrderLineError{Path: path, Line: len(order) + 1, Reason: err.Error()}
	}
	return amounts, order, nil
}
