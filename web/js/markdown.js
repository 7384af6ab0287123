// Comments are Markdown written by other people: rendered with marked, then cleaned by DOMPurify
// into a DocumentFragment (no innerHTML here). Raw HTML in the source never becomes markup: marked
// is told to show it as text, and DOMPurify keeps only the tags below, whatever marked produced.
// A mention token `<@USER_ID>` becomes the member's name in a span; a token naming no member stays
// as the text the author typed.
import DOMPurify from "../vendor/dompurify-3.4.18/purify.esm.js";
import { Marked } from "../vendor/marked-18.2.1/marked.esm.js";
import { displayName, el } from "./ui.js";

const ALLOWED_TAGS = ["p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td"];
const ALLOWED_ATTR = ["href", "title"];
// Private-use characters that Markdown leaves alone: a mention travels through marked as `\uE000n\uE001`.
export const MENTION = /<@([^<>\s]{1,128})>/g;
const PLACEHOLDER = /\uE000(\d+)\uE001/g;
const HAS_PLACEHOLDER = /\uE000\d+\uE001/;

const escapeHtml = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    // Block and inline HTML are shown as the text they are.
    html: ({ text }) => escapeHtml(text),
  },
});

// Links open elsewhere and tell nothing about this page.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

export function mentionToken(userId) {
  return `<@${userId}>`;
}

// members: [{user_id, name, email}]; returns a DocumentFragment.
export function renderMarkdown(body, members) {
  const mentioned = [];
  const source = body.replace(MENTION, (token, userId) => {
    mentioned.push({ token, userId });
    return `\uE000${mentioned.length - 1}\uE001`;
  });
  const html = marked.parse(source, { async: false });
  const fragment = DOMPurify.sanitize(html, { ALLOWED_TAGS, ALLOWED_ATTR, ADD_ATTR: ["target"], RETURN_DOM_FRAGMENT: true });
  if (mentioned.length) replaceMentions(fragment, mentioned, members);
  return fragment;
}

function replaceMentions(fragment, mentioned, members) {
  const walker = document.createTreeWalker(fragment, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) if (HAS_PLACEHOLDER.test(node.data)) texts.push(node);
  for (const node of texts) {
    const parts = [];
    let last = 0;
    for (const match of node.data.matchAll(PLACEHOLDER)) {
      parts.push(node.data.slice(last, match.index));
      const { token, userId } = mentioned[Number(match[1])];
      const member = members.find((m) => m.user_id === userId);
      parts.push(member ? el("span", { class: "mention", "data-user": userId }, `@${displayName(member, userId)}`) : token);
      last = match.index + match[0].length;
    }
    parts.push(node.data.slice(last));
    node.replaceWith(...parts.filter((p) => p !== ""));
  }
}
