import Foundation

/// Markup built from escaped values: every value placed in a console page goes through
/// ``escape(_:)``, so text from requests, notes, names or audit parameters is never markup.
enum HTML {
    /// `text` with the five characters that can end text or an attribute value replaced by
    /// character references.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// A number with fixed decimals, for scores and thresholds.
    static func decimal(_ value: Float, places: Int = 3) -> String { String(format: "%.\(places)f", Double(value)) }

    /// A date as ISO 8601 in UTC.
    static func date(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    /// A whole page: the console's own style sheet inline (no external assets), the header
    /// with the signed-in key and a sign-out button, then `body`.
    static func page(title: String, signedInAs: String?, body: String) -> String {
        var header = #"<header><a class="brand" href="/console">BioMatch review console</a>"#
        if let signedInAs {
            header += #"<span class="who">Signed in as \#(escape(signedInAs))</span>"#
                + #"<form method="post" action="/console/sign-out"><button class="link">Sign out</button></form>"#
        }
        header += "</header>"
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · BioMatch</title>
            <style>\(styleSheet)</style></head>
            <body>\(header)<main>\(body)</main>
            <footer>Candidates are investigative leads, never identifications, until a trained reviewer confirms them.</footer>
            </body></html>
            """
    }

    static let styleSheet = """
        *{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;background:#f3f5f8}
        header{display:flex;align-items:center;gap:16px;padding:10px 24px;background:#1f2a44;color:#fff}
        header .brand{color:#fff;font-weight:600;text-decoration:none;margin-right:auto}header form{margin:0}
        .who{opacity:.85}button.link{background:none;border:1px solid #8fa3c8;color:#fff;border-radius:4px;padding:3px 10px;cursor:pointer}
        main{max-width:1200px;margin:0 auto;padding:20px 24px}h1{font-size:22px;margin:4px 0 14px}h2{font-size:17px;margin:22px 0 8px}
        table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d8dee8}
        th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e4e8ef;vertical-align:top}th{background:#eef1f6;font-weight:600}
        td.num{font-variant-numeric:tabular-nums}code{font-size:12px;word-break:break-all}
        .facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;background:#fff;border:1px solid #d8dee8;padding:10px 14px}
        .facts dt{color:#5a6478}.facts dd{margin:0}
        .candidate{display:flex;gap:20px;background:#fff;border:1px solid #d8dee8;border-radius:6px;padding:14px;margin:12px 0}
        .faces{display:flex;gap:10px}.face{text-align:center;font-size:12px;color:#5a6478}
        .face img{display:block;width:168px;height:168px;image-rendering:auto;border:1px solid #c5ccd8;background:#e9edf3}
        .details{flex:1}.details table{margin:6px 0}
        .above{color:#0a6b2c;font-weight:600}.below{color:#8a5300;font-weight:600}
        .verdict{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600}
        .confirmed{background:#d8f0df;color:#0a5a26}.rejected{background:#f6dcdc;color:#8a1c1c}.inconclusive{background:#ece7d6;color:#6b5a14}
        .awaiting{background:#dfe7f6;color:#1f3f7a}
        textarea{width:100%;min-height:54px;font:inherit;padding:6px}
        .buttons{display:flex;gap:8px;margin-top:6px}.buttons button{padding:6px 14px;border-radius:4px;border:1px solid #9aa6ba;cursor:pointer;font:inherit}
        button.confirm{background:#1d7a3e;color:#fff;border-color:#1d7a3e}button.reject{background:#a12a2a;color:#fff;border-color:#a12a2a}
        button.unsure{background:#fff}
        .notice{padding:10px 14px;border-radius:6px;margin:10px 0}.error{background:#fbe3e3;border:1px solid #e5a5a5}.info{background:#e6eefb;border:1px solid #a9bde6}
        form.signin{max-width:420px;background:#fff;border:1px solid #d8dee8;padding:18px;border-radius:6px}
        form.signin input{width:100%;padding:7px;font:inherit;margin:6px 0 12px}
        footer{max-width:1200px;margin:10px auto 30px;padding:0 24px;color:#5a6478;font-size:13px}
        """
}
