package alipaytest_test

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// wapVector is the part of a synthetic-wap vector (in the module's testdata)
// these tests read.
type wapVector struct {
	FormBody string            `json:"formBody"`
	Query    string            `json:"query"`
	Params   map[string]string `json:"params"`
	Keys     struct {
		Partner             string `json:"partner"`
		MD5Key              string `json:"md5Key"`
		MerchantPrivateKey  string `json:"merchantPrivateKeyPkcs8Pem"`
		MerchantPublicKey   string `json:"merchantPublicKeyPem"`
		AlipayPublicKeyPem  string `json:"alipayPublicKeyPem"`
		AlipayPrivateKeyPem string `json:"alipayPrivateKeyPkcs8Pem_forRegeneratingOnly"`
	} `json:"keys"`
	ExpectedSignedContent       string `json:"expectedSignedContent"`
	ExpectedSign                string `json:"expectedSign"`
	ExpectedDecryptedNotifyData string `json:"expectedDecryptedNotifyData"`
	ExpectedDecryptedSHA256     string `json:"expectedDecryptedNotifyDataSha256"`
	Encryption                  struct {
		PlaintextChunkSizes []int `json:"plaintextChunkSizes"`
		CipherBlockCount    int   `json:"cipherBlockCount"`
		CipherBytes         int   `json:"cipherBytes"`
	} `json:"encryption"`
	NegativeChecks struct {
		SortedMapiStyleContent string `json:"sortedMapiStyleContent"`
		SortedMapiStyleDigest  string `json:"sortedMapiStyleDigest"`
	} `json:"negativeChecks"`
}

func loadWAPVector(t *testing.T, name string) wapVector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var v wapVector
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// wapRSASigner holds the 0001 vector's keys.
func wapRSASigner(t *testing.T) (*alipaytest.WAPSigner, wapVector) {
	t.Helper()
	vec := loadWAPVector(t, "synthetic-wap-rsa-0001-notify-utf8")
	alipay, err := alipaytest.ParseKeyPair(vec.Keys.AlipayPrivateKeyPem)
	if err != nil {
		t.Fatal(err)
	}
	merchant, err := alipaytest.ParseKeyPair(vec.Keys.MerchantPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if alipay.PublicKeyPEM() != vec.Keys.AlipayPublicKeyPem || merchant.PublicKeyPEM() != vec.Keys.MerchantPublicKey {
		t.Fatal("vector key pairs do not match")
	}
	return alipaytest.NewWAPRSASigner(alipay, merchant), vec
}

// xmlFields parses a flat <notify> document in order.
func xmlFields(t *testing.T, doc string) *alipaytest.WireParams {
	t.Helper()
	var n struct {
		Fields []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	p := &alipaytest.WireParams{}
	for _, f := range n.Fields {
		p.Add(f.XMLName.Local, f.Text)
	}
	return p
}

// TestWAPMD5NotifyVector reproduces synthetic-wap-md5-notify-utf8 exactly:
// the XML from its fields, the fixed-order content, the sign and the body.
func TestWAPMD5NotifyVector(t *testing.T) {
	vec := loadWAPVector(t, "synthetic-wap-md5-notify-utf8")
	s := alipaytest.NewWAPSigner(vec.Keys.Partner, vec.Keys.MD5Key)

	fields := xmlFields(t, vec.Params["notify_data"])
	if got := alipaytest.WAPNotifyXML(fields); got != vec.Params["notify_data"] {
		t.Fatalf("WAPNotifyXML:\n got %s\nwant %s", got, vec.Params["notify_data"])
	}
	m, err := s.SignNotifyData(vec.Params["notify_data"])
	if err != nil {
		t.Fatal(err)
	}
	if m.SignedContent != vec.ExpectedSignedContent {
		t.Fatalf("content:\n got %s\nwant %s", m.SignedContent, vec.ExpectedSignedContent)
	}
	if m.Sign() != vec.ExpectedSign || m.SignType != alipaytest.SignMD5 || m.Kind != alipaytest.NotifyKind {
		t.Fatalf("sign %s (%s), want %s", m.Sign(), m.SignType, vec.ExpectedSign)
	}
	if got := m.String(); got != vec.FormBody {
		t.Fatalf("body:\n got %s\nwant %s", got, vec.FormBody)
	}

	// The negative checks: the sorted content and the unescaped XML give
	// other digests.
	sum := md5.Sum([]byte(vec.NegativeChecks.SortedMapiStyleContent + vec.Keys.MD5Key))
	if hex.EncodeToString(sum[:]) != vec.NegativeChecks.SortedMapiStyleDigest || vec.NegativeChecks.SortedMapiStyleDigest == vec.ExpectedSign {
		t.Fatal("sorted-content digest")
	}
	unescaped, err := s.SignContent(strings.Replace(vec.ExpectedSignedContent, "&amp;", "&", 1))
	if err != nil || unescaped == vec.ExpectedSign {
		t.Fatalf("unescaped content signs the same: %v", err)
	}
}

// TestWAPRSANotifyVector reproduces synthetic-wap-rsa-0001-notify-utf8:
// the signature (deterministic) exactly; the ciphertext (randomised) by
// decrypting ours and the vector's to the same plaintext in the same chunks.
func TestWAPRSANotifyVector(t *testing.T) {
	s, vec := wapRSASigner(t)
	m, err := s.SignNotifyData(vec.ExpectedDecryptedNotifyData)
	if err != nil {
		t.Fatal(err)
	}
	if m.SignedContent != vec.ExpectedSignedContent {
		t.Fatalf("content:\n got %s\nwant %s", m.SignedContent, vec.ExpectedSignedContent)
	}
	if m.Sign() != vec.Params["sign"] || m.Get("sec_id") != "0001" || m.SignType != alipaytest.SignWAPRSA {
		t.Fatalf("sign %s, want %s", m.Sign(), vec.Params["sign"])
	}
	if got, want := strings.Join(m.Params.Keys(), ","), "service,sign,sec_id,v,notify_data"; got != want {
		t.Fatalf("wire order %s, want %s", got, want)
	}
	if m.Get("notify_data") == vec.Params["notify_data"] {
		t.Fatal("PKCS#1 v1.5 encryption must be randomised")
	}
	for name, data := range map[string]string{"ours": m.Get("notify_data"), "vector": vec.Params["notify_data"]} {
		plain, err := alipaytest.DecryptWAPNotifyData(s.MerchantKey, data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sum := sha256.Sum256(plain)
		if string(plain) != vec.ExpectedDecryptedNotifyData || hex.EncodeToString(sum[:]) != vec.ExpectedDecryptedSHA256 {
			t.Fatalf("%s: plaintext differs", name)
		}
		ct, _ := base64.StdEncoding.DecodeString(data)
		if len(ct) != vec.Encryption.CipherBytes || len(ct)/128 != vec.Encryption.CipherBlockCount {
			t.Fatalf("%s: %d cipher bytes", name, len(ct))
		}
		for i, want := range vec.Encryption.PlaintextChunkSizes {
			block := base64.StdEncoding.EncodeToString(ct[i*128 : (i+1)*128])
			chunk, err := alipaytest.DecryptWAPNotifyData(s.MerchantKey, block)
			if err != nil || len(chunk) != want {
				t.Fatalf("%s: block %d holds %d bytes (%v), want %d", name, i, len(chunk), err, want)
			}
		}
	}
	// Wrong key, partial block: errors.
	if _, err := alipaytest.DecryptWAPNotifyData(alipaytest.WAPMerchantTestKey(), m.Get("notify_data")); err == nil {
		t.Fatal("decrypted with the wrong key")
	}
	if _, err := alipaytest.DecryptWAPNotifyData(s.MerchantKey, base64.StdEncoding.EncodeToString(make([]byte, 100))); err == nil {
		t.Fatal("decrypted a partial block")
	}
}

// TestWAPReturnVectors reproduces both call_back_url vectors exactly (MD5
// and SHA1withRSA signatures are deterministic).
func TestWAPReturnVectors(t *testing.T) {
	md5Vec := loadWAPVector(t, "synthetic-wap-callback-md5-utf8")
	rsaSigner, _ := wapRSASigner(t)
	rsaVec := loadWAPVector(t, "synthetic-wap-callback-rsa-0001-utf8")
	for name, c := range map[string]struct {
		s   *alipaytest.WAPSigner
		vec wapVector
	}{
		"md5":  {alipaytest.NewWAPSigner(md5Vec.Keys.Partner, md5Vec.Keys.MD5Key), md5Vec},
		"0001": {rsaSigner, rsaVec},
	} {
		p := c.s.ReturnParams(alipaytest.Fields{"out_trade_no": c.vec.Params["out_trade_no"], "trade_no": c.vec.Params["trade_no"]})
		m := c.s.Return(alipaytest.Fields{"out_trade_no": c.vec.Params["out_trade_no"], "trade_no": c.vec.Params["trade_no"]})
		if p.Get("request_token") != "requestToken" || p.Get("result") != "success" {
			t.Fatalf("%s: template %v", name, p.Map())
		}
		if m.Kind != alipaytest.ReturnKind || m.Sign() != c.vec.Params["sign"] || m.String() != c.vec.Query {
			t.Fatalf("%s:\n got %s\nwant %s", name, m.String(), c.vec.Query)
		}
		if !strings.HasPrefix(m.Request("/wap/callback").URL.RawQuery, "out_trade_no=") {
			t.Fatalf("%s: request", name)
		}
	}
}

// TestWAPSignerDefaults: a realistic notification from the defaults, XML
// escaping, Gateway registration and misuse.
func TestWAPSignerDefaults(t *testing.T) {
	gw := alipaytest.NewNotifyVerifyServer()
	t.Cleanup(gw.Close)
	s := &alipaytest.WAPSigner{Gateway: gw}
	m := s.Notify(alipaytest.Fields{"subject": `A&B <x> "q"`, "total_fee": "12.30", "gmt_close": "2013-12-03 18:01:40"})
	if m.Get("sec_id") != "MD5" || m.Get("service") != alipaytest.WAPService || m.Get("v") != "1.0" {
		t.Fatalf("top level %v", m.Params.Map())
	}
	doc := m.Get("notify_data")
	if !strings.Contains(doc, "<subject>A&amp;B &lt;x&gt; \"q\"</subject>") {
		t.Fatalf("escaping: %s", doc)
	}
	f := xmlFields(t, doc).Map()
	for k, want := range map[string]string{"subject": `A&B <x> "q"`, "total_fee": "12.30", "price": "12.30",
		"trade_status": "TRADE_SUCCESS", "seller_id": alipaytest.DefaultPID, "notify_type": "trade_status_sync", "gmt_close": "2013-12-03 18:01:40"} {
		if f[k] != want {
			t.Errorf("%s = %q, want %q", k, f[k], want)
		}
	}
	if f["notify_id"] == "" || f["out_trade_no"] == "" || f["trade_no"] == "" {
		t.Fatalf("ids missing: %v", f)
	}
	if !strings.HasSuffix(m.SignedContent, "&notify_data="+doc) {
		t.Fatal("SignedContent")
	}
	// The gateway knows the notify_id.
	resp, err := gw.Client().Get(gw.GatewayURL() + "?service=notify_verify&partner=" + alipaytest.DefaultPID + "&notify_id=" + url.QueryEscape(f["notify_id"]))
	if err != nil {
		t.Fatal(err)
	}
	var body [8]byte
	n, _ := resp.Body.Read(body[:])
	resp.Body.Close()
	if string(body[:n]) != "true" {
		t.Fatalf("gateway answered %q", body[:n])
	}
	if omitted := xmlFields(t, s.Notify(alipaytest.Fields{"notify_id": alipaytest.Omit}).Get("notify_data")).Map(); omitted["notify_id"] != "" {
		t.Fatal("Omit kept notify_id")
	}

	// With only the merchant's public key, as Alipay holds it.
	merchant := alipaytest.WAPMerchantTestKey()
	pubOnly := &alipaytest.WAPSigner{SecID: alipaytest.SignWAPRSA, MerchantKey: alipaytest.WAPAlipayTestKey(), MerchantPublicKey: merchant.PublicKey()}
	enc := pubOnly.Notify(alipaytest.Fields{"out_trade_no": "PUB-ONLY"}).Get("notify_data")
	if plain, err := alipaytest.DecryptWAPNotifyData(merchant, enc); err != nil || !strings.Contains(string(plain), "<out_trade_no>PUB-ONLY</out_trade_no>") {
		t.Fatalf("MerchantPublicKey: %q, %v", plain, err)
	}
	if _, err := alipaytest.DecryptWAPNotifyData(alipaytest.WAPAlipayTestKey(), enc); err == nil {
		t.Fatal("MerchantPublicKey ignored: MerchantKey decrypts")
	}

	r := alipaytest.NewWAPRSASigner(nil, nil)
	r.ChunkSize = 118
	if _, err := r.SignNotifyData("<notify/>"); err == nil {
		t.Fatal("chunk size beyond the key accepted")
	}
	bad := &alipaytest.WAPSigner{SecID: alipaytest.SignRSA2}
	if _, err := bad.SignNotifyData("<notify/>"); err == nil {
		t.Fatal("RSA2 accepted as a sec_id")
	}
	if alipaytest.WAPAlipayTestKey().PublicKey().N.BitLen() != 1024 || alipaytest.WAPMerchantTestKey() == alipaytest.WAPAlipayTestKey() {
		t.Fatal("WAP test keys")
	}
}
