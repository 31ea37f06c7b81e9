package alipaynotify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxNotifyVerifyBody bounds the notify_verify answer. Alipay answers "true",
// "false" or "invalid", possibly with a line break; anything longer than
// this is not an answer and fails the check unread.
const maxNotifyVerifyBody = 64

// noRedirectClient returns the client that makes the notify_verify call: a
// shallow copy of c (so the merchant's client is never modified, and its
// Transport, Jar and Timeout are kept) whose CheckRedirect stops at the
// first response, or, when c is nil, a new client with timeout. A redirect
// is therefore never followed, wherever it points: the partner and notify_id
// go to the configured gateway only, and the 3xx answer fails the check.
func noRedirectClient(c *http.Client, timeout time.Duration) *http.Client {
	var nc http.Client
	if c != nil {
		nc = *c
	} else {
		nc.Timeout = timeout
	}
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &nc
}

// checkNotifyID performs the legacy notify_verify call:
// GET gateway?service=notify_verify&partner=P&notify_id=ID. It accepts only a
// 200 answer whose body is exactly "true", optionally surrounded by ASCII
// whitespace (space, tab, CR, LF): not "TRUE", not "true" followed by
// anything else, not a body longer than maxNotifyVerifyBody bytes, not a
// redirect (client must not follow redirects, see noRedirectClient). Every
// failure is a *FieldError on notify_id wrapping ErrRemoteCheck whose text
// never contains the notify_id.
func checkNotifyID(ctx context.Context, client *http.Client, gateway, partner, notifyID string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fail := func(reason string) error {
		return &FieldError{Field: "notify_id", Reason: redactNotifyID(reason, notifyID), Err: ErrRemoteCheck}
	}
	sep := "?"
	if strings.Contains(gateway, "?") {
		sep = "&"
	}
	u := gateway + sep + "service=notify_verify&partner=" + url.QueryEscape(partner) + "&notify_id=" + url.QueryEscape(notifyID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fail("bad gateway URL")
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail("gateway unreachable: " + redactURLError(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fail(fmt.Sprintf("gateway answered with a redirect (HTTP %d), which is not followed", resp.StatusCode))
	case resp.StatusCode != http.StatusOK:
		return fail(fmt.Sprintf("gateway answered HTTP %d", resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxNotifyVerifyBody+1))
	if err != nil {
		return fail("reading the answer failed: " + redactURLError(err))
	}
	if len(body) > maxNotifyVerifyBody {
		return fail(fmt.Sprintf("answer longer than %d bytes", maxNotifyVerifyBody))
	}
	if strings.Trim(string(body), " \t\r\n") != "true" {
		return fail(errNotifyVerifyAnswer.Error())
	}
	return nil
}

// redactURLError keeps the cause of a transport error without the URL, which
// carries the notify_id.
func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// redactNotifyID removes notifyID, raw or query-escaped, from an error
// reason: a custom HTTPClient's transport may quote the request URL in its
// own errors.
func redactNotifyID(reason, notifyID string) string {
	if notifyID == "" {
		return reason
	}
	reason = strings.ReplaceAll(reason, notifyID, "[notify_id]")
	if esc := url.QueryEscape(notifyID); esc != notifyID {
		reason = strings.ReplaceAll(reason, esc, "[notify_id]")
	}
	return reason
}
