// A result card: what a family needs to decide and to act (ages, cost, when, where,
// languages; call, the web site, or ask the school counselor for a referral).
import { h } from "./dom.js";
import { languageName, scheduleSummary } from "./i18n.js";

export function card(hit, t, lang) {
  const ages =
    hit.min_age == null && hit.max_age == null ? t.allAges : t.ages(hit.min_age ?? 0, hit.max_age);
  const cost =
    hit.cost.band === "free"
      ? t.free
      : hit.cost.monthly != null
        ? t.perMonth(Math.round(hit.cost.monthly))
        : null;
  const money = [cost, hit.cost.sliding_scale && t.sliding, hit.cost.scholarships && t.scholarships].filter(Boolean);
  const miles = hit.distance_m != null ? (hit.distance_m / 1609.344).toFixed(1) : null;
  const where = hit.nearest_location;
  const c = hit.contact || {};
  return h(
    "li",
    { class: "card" },
    h("article", { "aria-label": hit.name },
      h("h3", {}, hit.name),
      h("p", { class: "org" }, t.by(hit.organization.name)),
      h(
        "ul",
        { class: "facts" },
        h("li", {}, ages),
        hit.min_grade && hit.max_grade ? h("li", {}, t.grades(hit.min_grade, hit.max_grade)) : null,
        money.length ? h("li", {}, money.join(" · ")) : null,
        miles != null ? h("li", {}, t.away(miles)) : where?.is_virtual ? h("li", {}, t.online) : null,
        where?.address_1 ? h("li", {}, `${where.address_1}${where.city ? `, ${where.city}` : ""}`) : null,
      ),
      hit.sessions?.length ? h("p", {}, h("strong", {}, `${t.schedule}: `), scheduleSummary(hit.sessions, lang)) : null,
      hit.languages.length
        ? h("p", {}, h("strong", {}, `${t.languages}: `), hit.languages.map((l) => languageName(l, lang)).join(", "))
        : null,
      h("p", { class: "sr-only" }, t.nextSteps),
      h(
        "ul",
        { class: "steps" },
        c.phone ? h("li", {}, h("a", { href: `tel:${c.phone.replace(/[^0-9+]/g, "")}` }, t.call(c.phone))) : null,
        c.website ? h("li", {}, h("a", { href: c.website, target: "_blank", rel: "noopener" }, t.website)) : null,
        c.email ? h("li", {}, h("a", { href: `mailto:${c.email}` }, t.email)) : null,
        hit.accepting_referrals ? h("li", { class: "refer" }, t.askCounselor) : null,
      ),
    ),
  );
}
