// <youthlink-search>: the family search for partner web sites. One ES module; see the
// README ("Family search widget") for the tag and its attributes.
import { search, zipPlace } from "./api.js";
import { h, uid } from "./dom.js";
import { card } from "./cards.js";
import { DAYS, GRADES, STRINGS, languageName, pickLanguage } from "./i18n.js";
import { HitMap, MAP_CSS } from "./map.js";
import css from "./styles.css";

const MAX_HITS = 1000;

function fresh(el) {
  return {
    q: "",
    category: el.getAttribute("category") || "",
    age: el.getAttribute("age") || "",
    grade: el.getAttribute("grade") || "",
    free: el.hasAttribute("free"),
    language: el.getAttribute("language") || "",
    days: [],
    timeFrom: "",
    near: null,
    radiusMiles: 0,
    page: 1,
    perPage: Math.min(Math.max(Number(el.getAttribute("per-page")) || 10, 1), 50),
  };
}

class YouthlinkSearch extends HTMLElement {
  static observedAttributes = ["lang"];

  connectedCallback() {
    if (this.shadowRoot) return;
    this.attachShadow({ mode: "open" });
    this.state = fresh(this);
    this.lang_ = pickLanguage(this);
    this.base = (this.getAttribute("api-base") || new URL(import.meta.url).origin).replace(/\/$/, "");
    this.result = null;
    this.whereNote = "";
    this.build();
    this.run();
  }

  attributeChangedCallback() {
    if (!this.shadowRoot) return;
    this.lang_ = pickLanguage(this);
    this.build();
    this.run();
  }

  get t() {
    return STRINGS[this.lang_];
  }

  // ---------------------------------------------------------------- layout

  build() {
    const t = this.t;
    const root = this.shadowRoot;
    root.replaceChildren();
    root.append(h("style", {}, MAP_CSS), h("style", {}, css));
    this.ids = { q: uid("yl-q"), list: uid("yl-suggest"), heading: uid("yl-heading") };
    this.input = h("input", {
      id: this.ids.q,
      type: "search",
      value: this.state.q,
      placeholder: t.searchPlaceholder,
      autocomplete: "off",
      role: "combobox",
      "aria-autocomplete": "list",
      "aria-expanded": "false",
      "aria-controls": this.ids.list,
      oninput: () => this.suggestSoon(),
      onkeydown: (e) => this.onComboKey(e),
      onblur: () => setTimeout(() => this.closeSuggestions(), 150),
    });
    this.listbox = h("ul", { id: this.ids.list, role: "listbox", "aria-label": t.suggestions, hidden: true });
    const form = h(
      "form",
      { class: "search", role: "search", onsubmit: (e) => this.submit(e) },
      h("div", { class: "combo" }, h("label", { for: this.ids.q }, t.searchLabel), this.input, this.listbox),
      h("button", { type: "submit" }, t.searchButton),
    );
    this.filters = h("fieldset", { class: "filters" });
    this.status = h("p", { class: "status", role: "status", "aria-live": "polite" });
    this.heading = h("h2", { id: this.ids.heading, class: "results-heading", tabindex: "-1" }, t.loading);
    this.mapBox = h("div", { class: "map", hidden: this.getAttribute("map") === "off" });
    this.list = h("ol", { class: "results" });
    this.pager = h("nav", { class: "pager", "aria-label": t.pages });
    root.append(
      h("h2", { class: "sr-only" }, t.title),
      form,
      h(
        "div",
        { class: "layout" },
        this.filters,
        h("section", { "aria-labelledby": this.ids.heading }, this.heading, this.status, this.mapBox, this.list, this.pager),
      ),
    );
    this.map = null;
    this.renderFilters();
  }

  // ---------------------------------------------------------------- filters

  field(label, control) {
    return h("div", { class: "field" }, h("label", { for: control.id }, label), control);
  }

  facet(name, value) {
    const counts = this.result?.facets?.[name] || [];
    const found = counts.find((c) => c.value === value);
    return found ? found.count : 0;
  }

  renderFilters() {
    const t = this.t;
    const s = this.state;
    const change = (apply) => (e) => {
      apply(e.target);
      s.page = 1;
      this.run();
    };
    const ageId = uid("yl-age");
    const age = h("input", {
      id: ageId,
      "data-key": "age",
      type: "number",
      min: 0,
      max: 25,
      inputmode: "numeric",
      value: s.age,
      onchange: change((el) => (s.age = el.value)),
    });
    const grade = h(
      "select",
      { id: uid("yl-grade"), "data-key": "grade", onchange: change((el) => (s.grade = el.value)) },
      h("option", { value: "" }, t.anyGrade),
      GRADES.map((g) => h("option", { value: g, selected: s.grade === g }, g)),
    );
    const free = h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", "data-key": "free", checked: s.free, onchange: change((el) => (s.free = el.checked)) }),
      t.freeOnly,
      " ",
      h("span", { class: "count" }, t.count(this.facet("cost_band", "free"))),
    );
    const languages = (this.result?.facets?.language || []).map((c) => c.value);
    if (s.language && !languages.includes(s.language)) languages.unshift(s.language);
    const language = h(
      "select",
      { id: uid("yl-lang"), "data-key": "language", onchange: change((el) => (s.language = el.value)) },
      h("option", { value: "" }, t.anyLanguage),
      languages.map((code) =>
        h(
          "option",
          { value: code, selected: s.language === code },
          `${languageName(code, this.lang_)} ${t.count(this.facet("language", code))}`,
        ),
      ),
    );
    const days = h(
      "fieldset",
      {},
      h("legend", {}, t.days),
      h(
        "div",
        { class: "days" },
        DAYS.map((d) =>
          h(
            "label",
            { class: "check" },
            h("input", {
              type: "checkbox",
              "data-key": `day-${d}`,
              value: d,
              checked: s.days.includes(d),
              onchange: change((el) => {
                s.days = el.checked ? [...s.days, d] : s.days.filter((x) => x !== d);
              }),
            }),
            t.dayNames[d],
            " ",
            h("span", { class: "count" }, t.count(this.facet("day", d))),
          ),
        ),
      ),
    );
    const time = h("input", {
      id: uid("yl-time"),
      "data-key": "time",
      type: "time",
      value: s.timeFrom,
      step: 900,
      onchange: change((el) => (s.timeFrom = el.value)),
    });
    const fixed = this.getAttribute("category");
    const category = h(
      "select",
      { id: uid("yl-cat"), "data-key": "category", onchange: change((el) => (s.category = el.value)) },
      fixed ? null : h("option", { value: "" }, t.anyCategory),
      Object.entries(t.categories)
        .filter(([code]) => !fixed || code === fixed)
        .map(([code, name]) =>
          h("option", { value: code, selected: s.category === code }, `${name} ${t.count(this.facet("category", code))}`),
        ),
    );
    const zip = h("input", {
      id: uid("yl-zip"),
      "data-key": "zip",
      type: "text",
      inputmode: "numeric",
      pattern: "[0-9]{5}",
      maxlength: 5,
      autocomplete: "postal-code",
      value: this.zip || "",
      onchange: (e) => this.useZip(e.target.value.trim()),
    });
    const radius = h(
      "select",
      { id: uid("yl-radius"), "data-key": "radius", disabled: !s.near, onchange: change((el) => (s.radiusMiles = Number(el.value))) },
      h("option", { value: "0" }, t.anyDistance),
      [1, 3, 5, 10].map((n) => h("option", { value: n, selected: s.radiusMiles === n }, t.miles(n))),
    );
    // The filters are drawn anew with each answer (their counts change): the control
    // that had the focus keeps it, or a keyboard user would be thrown back to the page.
    const focused = this.shadowRoot.activeElement?.dataset?.key;
    this.filters.replaceChildren(
      h("legend", {}, t.filters),
      this.field(t.age, age),
      this.field(t.grade, grade),
      h("fieldset", {}, h("legend", {}, t.cost), free),
      this.field(t.language, language),
      days,
      this.field(t.startsAfter, time),
      this.field(t.category, category),
      h(
        "fieldset",
        {},
        h("legend", {}, t.where),
        this.field(t.zip, zip),
        h("button", { type: "button", class: "secondary", "data-key": "locate", onclick: () => this.useLocation() }, t.useLocation),
        h("p", { class: "hint" }, this.whereNote || t.locationAsk),
        this.field(t.within, radius),
      ),
      h("button", { type: "button", class: "secondary", "data-key": "clear", onclick: () => this.clear() }, t.clear),
    );
    if (focused) this.filters.querySelector(`[data-key="${focused}"]`)?.focus();
  }

  async useZip(zip) {
    this.zip = zip;
    if (!zip) {
      this.state.near = null;
      this.whereNote = "";
    } else {
      const place = /^[0-9]{5}$/.test(zip) ? await zipPlace(this.base, zip).catch(() => null) : null;
      this.state.near = place;
      this.whereNote = place ? this.t.zipUsing(zip) : this.t.zipUnknown;
    }
    this.state.page = 1;
    this.run();
  }

  useLocation() {
    if (!navigator.geolocation) {
      this.whereNote = this.t.locationDenied;
      this.renderFilters();
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (where) => {
        this.state.near = { lat: where.coords.latitude, lng: where.coords.longitude };
        this.zip = "";
        this.whereNote = this.t.locationUsing;
        this.state.page = 1;
        this.run();
      },
      () => {
        this.whereNote = this.t.locationDenied;
        this.renderFilters();
      },
      { maximumAge: 600000, timeout: 10000 },
    );
  }

  clear() {
    const perPage = this.state.perPage;
    this.state = { ...fresh(this), q: this.state.q, perPage };
    this.zip = "";
    this.whereNote = "";
    this.run();
  }

  // ---------------------------------------------------------------- suggestions

  suggestSoon() {
    clearTimeout(this.suggestTimer);
    this.suggestTimer = setTimeout(() => this.suggest(), 180);
  }

  async suggest() {
    const q = this.input.value.trim();
    if (q.length < 2) return this.closeSuggestions();
    this.suggestAbort?.abort();
    this.suggestAbort = new AbortController();
    try {
      const found = await search(this.base, { ...this.state, q, page: 1, perPage: 5 }, this.lang_, {
        facets: false,
        signal: this.suggestAbort.signal,
      });
      const names = [...new Set(found.contents.map((hit) => hit.name))];
      this.listbox.replaceChildren(
        ...names.map((name, i) =>
          h(
            "li",
            { id: `${this.ids.list}-${i}`, role: "option", "aria-selected": "false", onmousedown: () => this.pick(name) },
            name,
          ),
        ),
      );
      this.active = -1;
      this.input.removeAttribute("aria-activedescendant");
      this.listbox.hidden = names.length === 0;
      this.input.setAttribute("aria-expanded", String(names.length > 0));
    } catch (error) {
      if (error.name !== "AbortError") this.closeSuggestions();
    }
  }

  onComboKey(e) {
    const options = [...this.listbox.children];
    if (e.key === "Escape") return this.closeSuggestions();
    if (this.listbox.hidden || options.length === 0) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const step = e.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + options.length) % options.length;
      options.forEach((o, i) => o.setAttribute("aria-selected", String(i === this.active)));
      this.input.setAttribute("aria-activedescendant", options[this.active].id);
    } else if (e.key === "Enter" && this.active >= 0) {
      e.preventDefault();
      this.pick(options[this.active].textContent);
    }
  }

  pick(name) {
    this.input.value = name;
    this.closeSuggestions();
    this.submit();
  }

  closeSuggestions() {
    this.listbox.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  submit(e) {
    e?.preventDefault();
    this.closeSuggestions();
    this.state.q = this.input.value.trim();
    this.state.page = 1;
    this.run();
  }

  // ---------------------------------------------------------------- results

  async run({ focus = false } = {}) {
    const t = this.t;
    this.searchAbort?.abort();
    this.searchAbort = new AbortController();
    this.setAttribute("aria-busy", "true");
    this.status.textContent = t.loading;
    try {
      this.result = await search(this.base, this.state, this.lang_, { signal: this.searchAbort.signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      this.result = null;
      this.heading.textContent = t.filters;
      this.status.textContent = "";
      this.list.replaceChildren(h("li", { class: "error" }, t.error));
      this.pager.replaceChildren();
      this.removeAttribute("aria-busy");
      return;
    }
    this.removeAttribute("aria-busy");
    this.renderResults();
    this.renderFilters();
    if (focus) this.heading.focus();
  }

  renderResults() {
    const t = this.t;
    const r = this.result;
    const total = r.total_items;
    this.heading.textContent = r.total_items_exact === false ? t.resultsMore(MAX_HITS) : t.results(total);
    this.status.textContent = total ? `${t.results(total)}. ${t.page(r.page_number, r.total_pages)}` : t.noResults;
    this.list.replaceChildren(...(total ? r.contents.map((hit) => card(hit, this.t, this.lang_)) : [h("li", { class: "empty" }, t.noResults)]));
    this.renderPager(r);
    if (!this.mapBox.hidden) {
      this.map ||= new HitMap(this.mapBox, {
        tilesUrl: this.getAttribute("tiles-url"),
        attribution: this.getAttribute("tiles-attribution"),
        label: t.map,
      });
      this.map.label(t.map);
      this.map.show(r.contents, this.state.near);
    }
  }

  renderPager(r) {
    const t = this.t;
    if (r.total_pages <= 1) return this.pager.replaceChildren();
    const go = (page) => () => {
      this.state.page = page;
      this.run({ focus: true });
    };
    this.pager.replaceChildren(
      h("button", { type: "button", class: "secondary", disabled: r.first_page, onclick: go(r.page_number - 1) }, t.previous),
      h("span", {}, t.page(r.page_number, r.total_pages)),
      h("button", { type: "button", class: "secondary", disabled: r.last_page, onclick: go(r.page_number + 1) }, t.next),
    );
  }
}

if (!customElements.get("youthlink-search")) customElements.define("youthlink-search", YouthlinkSearch);
