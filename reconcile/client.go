package reconcile

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alipaynotify/alipaynotify"
)

// Alipay's gateways.
const (
	// DefaultGatewayURL is the open platform's gateway.
	DefaultGatewayURL = "https://openapi.alipay.com/gateway.do"
	// DefaultLegacyGatewayURL is the legacy mapi gateway.
	DefaultLegacyGatewayURL = "https://mapi.alipay.com/gateway.do"
)

// DefaultTimeout bounds one query when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Errors of a query that did not get an answer to verify. An answer that
// came is verified by the Verifier, whose errors (alipaynotify.ErrTradeNotFound,
// *alipaynotify.GatewayError, alipaynotify.ErrSignature, ...) are returned
// as they are.
var (
	// ErrUnreachable: the gateway could not be reached, or did not answer
	// within the timeout or the context's deadline. The error also matches
	// its cause (context.DeadlineExceeded, context.Canceled, ...).
	ErrUnreachable = errors.New("reconcile: gateway unreachable")
	// ErrHTTPStatus: the gateway answered with an HTTP status other than
	// 200. The error is a *StatusError.
	ErrHTTPStatus = errors.New("reconcile: gateway answered an HTTP error")
	// ErrResponseTooLarge: the answer is longer than
	// alipaynotify.MaxQueryResponseBytes; it is not read further.
	ErrResponseTooLarge = errors.New("reconcile: answer too large")
)

// StatusError is an HTTP status other than 200 from the gateway. It matches
// ErrHTTPStatus.
type StatusError struct {
	// StatusCode is the HTTP status received.
	StatusCode int
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("%v: HTTP %d", ErrHTTPStatus, e.StatusCode)
}

// Unwrap returns ErrHTTPStatus.
func (e *StatusError) Unwrap() error { return ErrHTTPStatus }

// Options configure a Client. The zero value of every optional field is the
// safe default; New validates everything once.
type Options struct {
	// Verifier verifies the answers, with the Alipay keys, certificates and
	// legacy MD5 key it verifies callbacks with; the app_id (open platform)
	// or partner (legacy) of the queries is its AppID or Partner. Required.
	Verifier *alipaynotify.Verifier
	// Protocol is the protocol of the queries: alipaynotify.ProtocolOpenPlatform
	// (alipay.trade.query) or alipaynotify.ProtocolMapi (single_trade_query).
	// Default: ProtocolOpenPlatform.
	Protocol alipaynotify.Protocol
	// GatewayURL is Alipay's gateway. It must be https, except on a
	// loopback host (127.0.0.0/8, ::1 or "localhost"), where http:// is
	// accepted for a local fake gateway such as alipaysim's -gateway or
	// alipaytest's Gateway served by your own http.Server: the connection
	// then never leaves the machine. Any other http:// URL is refused.
	// Default: DefaultGatewayURL, or DefaultLegacyGatewayURL for
	// ProtocolMapi.
	GatewayURL string

	// MerchantPrivateKey is your app's RSA private key (应用私钥), which
	// signs open-platform queries: PEM ("RSA PRIVATE KEY" or "PRIVATE KEY")
	// or bare base64. Required for ProtocolOpenPlatform.
	MerchantPrivateKey string
	// SignType is the open-platform sign_type: alipaynotify.SignRSA2
	// (SHA256withRSA) or alipaynotify.SignRSA (SHA1withRSA, old apps).
	// Default: SignRSA2.
	SignType alipaynotify.SignType
	// AppCert and AlipayRootCert are, in public-key-certificate mode, your
	// app's certificate (appCertPublicKey_<appid>.crt) and Alipay's root
	// bundle (alipayRootCert.crt), as PEM: queries then send app_cert_sn
	// and alipay_root_cert_sn computed from them. Give both or neither.
	AppCert, AlipayRootCert string

	// MD5Key is the legacy partner's MD5 key (安全校验码), which signs
	// single_trade_query. Required for ProtocolMapi.
	MD5Key string

	// HTTPClient sends the queries. Default: a client with Timeout. It is
	// copied, never changed, and the copy follows no redirects.
	HTTPClient *http.Client
	// Timeout bounds one query, on top of the context's deadline. Default:
	// DefaultTimeout.
	Timeout time.Duration
	// Now is the clock of the open platform's timestamp. Default: time.Now.
	Now func() time.Time
}

// Client queries Alipay for the status of trades. It is safe for
// concurrent use.
type Client struct {
	opts       Options
	gateway    *url.URL
	key        *rsa.PrivateKey
	appCertSN  string
	rootCertSN string
	http       *http.Client
}

// New validates opts and parses the keys and certificates once.
func New(opts Options) (*Client, error) {
	c := &Client{opts: opts}
	o := &c.opts
	if o.Verifier == nil {
		return nil, cfg("Verifier", "required: the Verifier of your callbacks verifies the answers")
	}
	if o.Protocol == "" {
		o.Protocol = alipaynotify.ProtocolOpenPlatform
	}
	var err error
	switch o.Protocol {
	case alipaynotify.ProtocolOpenPlatform:
		err = c.initOpen()
	case alipaynotify.ProtocolMapi:
		err = c.initLegacy()
	default:
		return nil, cfg("Protocol", "must be ProtocolOpenPlatform or ProtocolMapi")
	}
	if err != nil {
		return nil, err
	}
	u, err := checkGatewayURL(o.GatewayURL)
	if err != nil {
		return nil, err
	}
	c.gateway = u
	switch {
	case o.Timeout == 0:
		o.Timeout = DefaultTimeout
	case o.Timeout < 0:
		return nil, cfg("Timeout", "must not be negative")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c.http = noRedirectClient(o.HTTPClient, o.Timeout)
	return c, nil
}

func cfg(field, reason string) error {
	return &alipaynotify.FieldError{Field: field, Reason: reason, Err: alipaynotify.ErrConfig}
}

// checkGatewayURL accepts an https URL, or an http URL whose host is a
// loopback address or "localhost" (a local fake gateway).
func checkGatewayURL(raw string) (*url.URL, error) {
	const onlyLoopback = " (http:// is accepted only on a loopback host, 127.0.0.0/8, ::1 or localhost, for a local fake gateway)"
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
		return nil, cfg("GatewayURL", "must be an absolute https URL such as "+DefaultGatewayURL+", without user info"+onlyLoopback)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if loopbackHost(u.Hostname()) {
			return u, nil
		}
		return nil, cfg("GatewayURL", "must be https: the answer is trusted only as far as the connection to Alipay is"+onlyLoopback)
	}
	return nil, cfg("GatewayURL", "must be an https URL such as "+DefaultGatewayURL+onlyLoopback)
}

// loopbackHost reports whether host (without port or brackets) is
// "localhost" or a loopback IP address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// initOpen checks the open-platform options.
func (c *Client) initOpen() error {
	o := &c.opts
	if o.Verifier.AppID() == "" {
		return cfg("Verifier", "its Options.AppID and Alipay keys are required for open-platform queries")
	}
	if o.MD5Key != "" {
		return cfg("MD5Key", "only used with ProtocolMapi")
	}
	if o.MerchantPrivateKey == "" {
		return cfg("MerchantPrivateKey", "required: your app's private key (应用私钥) signs the queries")
	}
	key, err := alipaynotify.ParsePrivateKey(o.MerchantPrivateKey)
	if err != nil {
		return cfg("MerchantPrivateKey", err.Error())
	}
	c.key = key
	switch o.SignType {
	case "":
		o.SignType = alipaynotify.SignRSA2
	case alipaynotify.SignRSA2, alipaynotify.SignRSA:
	default:
		return cfg("SignType", "must be RSA2 or RSA")
	}
	switch {
	case (o.AppCert == "") != (o.AlipayRootCert == ""):
		return cfg("AppCert", "AppCert and AlipayRootCert go together (public-key-certificate mode)")
	case o.AppCert != "":
		if c.appCertSN, err = alipaynotify.CertSN(o.AppCert); err != nil {
			return cfg("AppCert", err.Error())
		}
		if c.rootCertSN, err = alipaynotify.RootCertSN(o.AlipayRootCert); err != nil {
			return cfg("AlipayRootCert", err.Error())
		}
	}
	if o.GatewayURL == "" {
		o.GatewayURL = DefaultGatewayURL
	}
	return nil
}

// initLegacy checks the legacy mapi options.
func (c *Client) initLegacy() error {
	o := &c.opts
	if o.Verifier.Partner() == "" {
		return cfg("Verifier", "its Options.Legacy.Partner is required for legacy queries")
	}
	if o.MD5Key == "" {
		return cfg("MD5Key", "required: the partner's MD5 key signs single_trade_query")
	}
	if o.MerchantPrivateKey != "" || o.SignType != "" || o.AppCert != "" || o.AlipayRootCert != "" {
		return cfg("MerchantPrivateKey", "MerchantPrivateKey, SignType, AppCert and AlipayRootCert are open-platform options")
	}
	if o.GatewayURL == "" {
		o.GatewayURL = DefaultLegacyGatewayURL
	}
	return nil
}

// noRedirectClient returns a shallow copy of hc (or a new client with
// timeout) that never follows a redirect: the signed query goes to the
// configured gateway only, and a 3xx is an HTTP error.
func noRedirectClient(hc *http.Client, timeout time.Duration) *http.Client {
	var nc http.Client
	if hc != nil {
		nc = *hc
	} else {
		nc.Timeout = timeout
	}
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &nc
}

// Protocol returns the protocol the client queries.
func (c *Client) Protocol() alipaynotify.Protocol { return c.opts.Protocol }

// QueryTrade asks Alipay for the status of order outTradeNo and returns it
// as a verified Notification (Source alipaynotify.SourceQuery). A trade in
// WAIT_BUYER_PAY is returned like any other status.
//
// Errors: alipaynotify.ErrTradeNotFound when Alipay has no such trade
// (nothing yet); a *alipaynotify.GatewayError for other gateway errors;
// ErrUnreachable, *StatusError (ErrHTTPStatus) and ErrResponseTooLarge when
// no answer could be read; the Verifier's errors (alipaynotify.ErrSignature,
// alipaynotify.ErrMalformed, ...) for an answer that does not verify.
func (c *Client) QueryTrade(ctx context.Context, outTradeNo string) (*alipaynotify.Notification, error) {
	if err := checkOutTradeNo(outTradeNo); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var req *http.Request
	var err error
	if c.opts.Protocol == alipaynotify.ProtocolMapi {
		req, err = c.legacyRequest(ctx, outTradeNo)
	} else {
		req, err = c.openRequest(ctx, outTradeNo)
	}
	if err != nil {
		return nil, err
	}
	body, err := c.do(req)
	if err != nil {
		return nil, err
	}
	if c.opts.Protocol == alipaynotify.ProtocolMapi {
		return c.opts.Verifier.VerifySingleTradeQuery(ctx, body, outTradeNo)
	}
	return c.opts.Verifier.VerifyTradeQuery(ctx, body, outTradeNo)
}

// checkOutTradeNo refuses an order number Alipay cannot hold: 1 to 64
// printable ASCII characters.
func checkOutTradeNo(s string) error {
	ok := s != "" && len(s) <= 64
	for i := 0; ok && i < len(s); i++ {
		ok = s[i] > 0x20 && s[i] < 0x7f
	}
	if !ok {
		return &alipaynotify.FieldError{Field: "out_trade_no", Reason: "must be 1 to 64 printable ASCII characters", Err: alipaynotify.ErrMalformed}
	}
	return nil
}

// urlParams are the open-platform parameters the Node SDK puts in the URL
// (alipay.ts formatUrl); the others, biz_content here, go in the form body.
var urlParams = []string{"app_id", "method", "format", "charset", "sign_type", "sign", "timestamp", "version", "app_cert_sn", "alipay_root_cert_sn"}

// openRequest builds a signed alipay.trade.query: every common parameter in
// the URL, biz_content in the form body, as the Node SDK sends it.
func (c *Client) openRequest(ctx context.Context, outTradeNo string) (*http.Request, error) {
	biz, err := bizContent(outTradeNo)
	if err != nil {
		return nil, err
	}
	p := map[string]string{
		"app_id":      c.opts.Verifier.AppID(),
		"method":      "alipay.trade.query",
		"charset":     "utf-8",
		"sign_type":   string(c.opts.SignType),
		"timestamp":   c.opts.Now().In(alipaynotify.ChinaTime).Format("2006-01-02 15:04:05"),
		"version":     "1.0",
		"biz_content": biz,
	}
	if c.appCertSN != "" {
		p["app_cert_sn"] = c.appCertSN
		p["alipay_root_cert_sn"] = c.rootCertSN
	}
	sign, err := c.signRSA(alipaynotify.RequestContent(alipaynotify.ProtocolOpenPlatform, p))
	if err != nil {
		return nil, err
	}
	p["sign"] = sign
	u := *c.gateway
	q := u.Query()
	for _, k := range urlParams {
		if v, ok := p[k]; ok {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	form := url.Values{"biz_content": {p["biz_content"]}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, cfg("GatewayURL", "cannot build a request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// bizContent is {"out_trade_no":"..."} as JSON.stringify writes it (no HTML
// escaping), the bytes that are signed and sent.
func bizContent(outTradeNo string) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct {
		OutTradeNo string `json:"out_trade_no"`
	}{outTradeNo}); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// signRSA signs content with the merchant key: base64 PKCS#1 v1.5 over
// SHA-256 (RSA2) or SHA-1 (RSA).
func (c *Client) signRSA(content []byte) (string, error) {
	var sig []byte
	var err error
	if c.opts.SignType == alipaynotify.SignRSA {
		sum := sha1.Sum(content)
		sig, err = rsa.SignPKCS1v15(nil, c.key, crypto.SHA1, sum[:])
	} else {
		sum := sha256.Sum256(content)
		sig, err = rsa.SignPKCS1v15(nil, c.key, crypto.SHA256, sum[:])
	}
	if err != nil {
		return "", fmt.Errorf("reconcile: signing the query: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// legacyRequest builds a signed single_trade_query: a form POST of every
// parameter, _input_charset also in the URL, as the legacy PHP kit's
// buildRequestHttp sends it.
func (c *Client) legacyRequest(ctx context.Context, outTradeNo string) (*http.Request, error) {
	p := map[string]string{
		"service":        "single_trade_query",
		"partner":        c.opts.Verifier.Partner(),
		"_input_charset": "utf-8",
		"out_trade_no":   outTradeNo,
	}
	p["sign"] = alipaynotify.MD5Signature(alipaynotify.RequestContent(alipaynotify.ProtocolMapi, p), c.opts.MD5Key)
	p["sign_type"] = string(alipaynotify.SignMD5)
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	u := *c.gateway
	q := u.Query()
	q.Set("_input_charset", "utf-8")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, cfg("GatewayURL", "cannot build a request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

// do sends req and reads a 200 answer of at most
// alipaynotify.MaxQueryResponseBytes.
func (c *Client) do(req *http.Request) ([]byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{StatusCode: resp.StatusCode}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, alipaynotify.MaxQueryResponseBytes+1))
	if err != nil {
		return nil, unreachable(err)
	}
	if len(body) > alipaynotify.MaxQueryResponseBytes {
		return nil, ErrResponseTooLarge
	}
	return body, nil
}

// unreachable wraps a transport error, without the URL (it carries the
// signed query), keeping its cause for errors.Is.
func unreachable(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, ue.Op, ue.Err)
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}
