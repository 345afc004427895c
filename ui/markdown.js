/* The assistant's replies as Markdown: a safe subset, text nodes only, links http(s) only. */

import { h } from "./dom.js";

export function renderMarkdown(text) {
  const frag = document.createDocumentFragment();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (/^\s*```/.test(line)) {
      const code = [];
      i += 1;
      while (i < lines.length && !/^\s*```/.test(lines[i])) code.push(lines[i++]);
      i += 1;
      frag.append(h("pre", null, h("code", null, code.join("\n"))));
      continue;
    }
    const bullet = /^\s*[-*•]\s+(.*)$/;
    const numbered = /^\s*\d+[.)]\s+(.*)$/;
    if (bullet.test(line) || numbered.test(line)) {
      const re = bullet.test(line) ? bullet : numbered;
      const list = h(re === bullet ? "ul" : "ol");
      while (i < lines.length && re.test(lines[i])) {
        list.append(inline(h("li"), lines[i].match(re)[1]));
        i += 1;
      }
      frag.append(list);
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const para = h("p");
    const heading = line.match(/^#{1,6}\s+(.*)$/);
    if (heading) {
      para.append(inline(h("strong"), heading[1]));
      i += 1;
    } else {
      let first = true;
      while (i < lines.length && lines[i].trim() && !/^\s*```/.test(lines[i])
             && !bullet.test(lines[i]) && !numbered.test(lines[i]) && !/^#{1,6}\s/.test(lines[i])) {
        if (!first) para.append(h("br"));
        inline(para, lines[i]);
        first = false;
        i += 1;
      }
    }
    frag.append(para);
  }
  return frag;
}

const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\[[^\]\n]+\]\(https?:\/\/[^\s)]+\))|(https?:\/\/[^\s<]*[^\s<.,;:!?)\]'"])|(\*[^*\s][^*\n]*\*)|(_[^_\s][^_\n]*_)/g;

function inline(parent, text) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parent.append(text.slice(last, m.index));
    const token = m[0];
    if (m[1]) parent.append(h("code", null, token.slice(1, -1)));
    else if (m[2]) parent.append(h("strong", null, token.slice(2, -2)));
    else if (m[3]) {
      const [, label, href] = token.match(/^\[([^\]]+)\]\((.+)\)$/);
      parent.append(h("a", { href, target: "_blank", rel: "noopener noreferrer" }, label));
    } else if (m[4]) parent.append(h("a", { href: token, target: "_blank", rel: "noopener noreferrer" }, token));
    else parent.append(h("em", null, token.slice(1, -1)));
    last = m.index + token.length;
  }
  if (last < text.length) parent.append(text.slice(last));
  return parent;
}
