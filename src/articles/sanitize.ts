import sanitizeHtml from 'sanitize-html';

/**
 * Article bodies come from import files and editors; only structural markup survives. No scripts,
 * styles, event handlers, frames or forms, and links only to http(s) and mailto.
 */
const options: sanitizeHtml.IOptions = {
  allowedTags: [
    'p',
    'h2',
    'h3',
    'h4',
    'blockquote',
    'ul',
    'ol',
    'li',
    'a',
    'em',
    'strong',
    'b',
    'i',
    'q',
    'cite',
    'abbr',
    'sub',
    'sup',
    'br',
    'hr',
    'figure',
    'figcaption',
    'img',
    'table',
    'thead',
    'tbody',
    'tr',
    'th',
    'td',
    'code',
    'pre',
  ],
  allowedAttributes: {
    a: ['href', 'title', 'rel'],
    abbr: ['title'],
    img: ['src', 'alt', 'width', 'height'],
    th: ['scope'],
  },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: { img: ['http', 'https'] },
  allowProtocolRelative: false,
  disallowedTagsMode: 'discard',
  transformTags: {
    // Outbound links neither pass our page on as referrer nor lend it ranking.
    a: (tagName, attribs) => {
      const href = attribs.href ?? '';
      const external = /^https?:\/\//i.test(href);
      const { rel: _rel, ...rest } = attribs;
      return { tagName, attribs: external ? { ...rest, rel: 'noopener noreferrer nofollow' } : rest };
    },
  },
};

export function sanitizeArticleBody(html: string): string {
  return sanitizeHtml(html, options).trim();
}
