// The store page's one job. Ecwid's default category URL (…/store/1/#!/toys/c/1)
// sends only /store/1/ to the server: this opens the category the fragment
// names by fetching its page (…/store/1/toys-c1) and showing its main part
// here, and again whenever the fragment changes. Without script, the page
// still lists the store's categories.
const home = { main: document.querySelector("main"), title: document.title };
let shown = home.main;

function named() {
  const found = /^#!\/([^/?#]*)\/c\/([1-9][0-9]{0,9})(?:[/?&]|$)/.exec(location.hash);
  if (!found) return null;
  let slug = "";
  try { slug = decodeURIComponent(found[1]); } catch { /* a malformed escape: no slug */ }
  return `${encodeURIComponent(slug || "category")}-c${found[2]}`;
}

async function open() {
  const page = named();
  let main = home.main;
  let title = home.title;
  if (page) {
    const answer = await fetch(page, { headers: { Accept: "text/html" } });
    const html = new DOMParser().parseFromString(await answer.text(), "text/html");
    main = document.adoptNode(html.querySelector("main"));
    title = html.title;
  }
  if (page !== named()) return; // the fragment moved on meanwhile
  shown.replaceWith(main);
  shown = main;
  document.title = title;
}

addEventListener("hashchange", open);
open();
