// Live changes animate into place (FLIP with the Web Animations API, which the CSP allows where
// inline styles are not): measure where each rendered card is, render, then play each moved card
// from where it was. New cards fade in. Boards with many cards on screen are not animated.

const FLIP_LIMIT = 600; // above this many rendered cards, skip move animations

// Where each rendered card is now, by id; null when there are too many to animate.
export function measure(cardEls) {
  if (cardEls.size > FLIP_LIMIT) return null;
  const rects = new Map();
  for (const [id, node] of cardEls) if (node.isConnected) rects.set(id, node.getBoundingClientRect());
  return rects;
}

export function animate(cardEls, before) {
  for (const [id, node] of cardEls) {
    if (!node.isConnected) continue;
    const was = before.get(id);
    if (!was) {
      if (node.fresh && before.size) node.animate([{ opacity: 0, transform: "scale(0.96)" }, { opacity: 1, transform: "none" }], { duration: 220, easing: "ease-out" });
      node.fresh = false;
      continue;
    }
    const now = node.getBoundingClientRect();
    const dx = was.left - now.left;
    const dy = was.top - now.top;
    if (Math.abs(dx) < 1 && Math.abs(dy) < 1) continue;
    node.animate([{ transform: `translate(${dx}px, ${dy}px)` }, { transform: "none" }], { duration: 250, easing: "ease-in-out" });
    if (Math.abs(dx) < 1) continue;
    node.classList.add("arrived");
    setTimeout(() => node.classList.remove("arrived"), 800);
  }
}
