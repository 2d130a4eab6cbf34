package testenv

import (
	"strings"
	"time"
)

// UsernameMixedRST is a WS-Trust 1.3 Issue request for Microsoft 365 with
// a UsernameToken, as MSAL.NET sends it, for the tests and the bench.
func UsernameMixedRST(endpoint, user, password string, now time.Time) string {
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace
	return `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing" ` +
		`xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><s:Header>` +
		`<a:Action s:mustUnderstand="1">http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue</a:Action>` +
		`<a:MessageID>urn:uuid:0b0e2f7e-1b4a-4a52-9f8a-5d1c3e2b7a10</a:MessageID>` +
		`<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>` +
		`<a:To s:mustUnderstand="1">` + endpoint + `</a:To>` +
		`<o:Security s:mustUnderstand="1" xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">` +
		`<u:Timestamp u:Id="MSATimeStamp"><u:Created>` + now.UTC().Format("2006-01-02T15:04:05.000Z") + `</u:Created>` +
		`<u:Expires>` + now.Add(10*time.Minute).UTC().Format("2006-01-02T15:04:05.000Z") + `</u:Expires></u:Timestamp>` +
		`<o:UsernameToken u:Id="UnPwSecTok13-1"><o:Username>` + esc(user) + `</o:Username><o:Password>` + esc(password) + `</o:Password></o:UsernameToken>` +
		`</o:Security></s:Header><s:Body><trust:RequestSecurityToken xmlns:trust="http://docs.oasis-open.org/ws-sx/ws-trust/200512">` +
		`<wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><a:EndpointReference><a:Address>urn:federation:MicrosoftOnline</a:Address></a:EndpointReference></wsp:AppliesTo>` +
		`<trust:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer</trust:KeyType>` +
		`<trust:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</trust:RequestType>` +
		`</trust:RequestSecurityToken></s:Body></s:Envelope>`
}
