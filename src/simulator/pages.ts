import { escapeHtml } from './util.js';

export const STYLESHEET_PATH = '/_simulator/assets/simulator.css';

export const STYLESHEET = `
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f8fa;color:#1a1f36}
main{max-width:30rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 2px 12px rgba(0,0,0,.08)}
main.wide{max-width:72rem}
h1{font-size:1.4rem;margin:0 0 .25rem}
h2{font-size:1.1rem;margin:2rem 0 .5rem}
.amount{font-size:2rem;font-weight:600;margin:.25rem 0 1rem}
.merchant{color:#697386;margin:0}
label{display:block;margin:.75rem 0 .25rem;font-weight:500}
input[type=text],input[type=email],input[type=number]{width:100%;padding:.6rem;border:1px solid #c1c9d2;border-radius:6px;font:inherit}
button{margin-top:1.25rem;width:100%;padding:.75rem;border:0;border-radius:6px;background:#635bff;color:#fff;font:inherit;font-weight:600;cursor:pointer}
.paypal button{background:#ffc439;color:#111}
.error{background:#fdecea;color:#a4262c;border-radius:6px;padding:.6rem .8rem;margin:1rem 0}
.hint{color:#697386;font-size:.85rem}
.cancel{display:block;margin-top:1rem;text-align:center;color:#697386}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{text-align:left;border-bottom:1px solid #e3e8ee;padding:.35rem .5rem;vertical-align:top}
td form{display:inline}
td button,.inline button{width:auto;margin:0 .25rem 0 0;padding:.25rem .6rem;font-size:.8rem}
.inline{display:flex;gap:.5rem;align-items:end;flex-wrap:wrap}
.inline label{margin:0}
.inline input[type=number]{width:6rem}
code{font-size:.8rem}
`;

export function layout(
  title: string,
  body: string,
  opts: { wide?: boolean; theme?: 'stripe' | 'paypal' } = {},
): string {
  const classes = [opts.wide ? 'wide' : '', opts.theme ?? ''].filter(Boolean).join(' ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<main class="${classes}">
${body}
</main>
</body>
</html>`;
}

/** Security headers for the simulator's pages: no scripts at all, forms may post anywhere local. */
export const PAGE_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};
