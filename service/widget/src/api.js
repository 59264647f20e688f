// The two requests the widget makes: a page of search results, and a ZIP code's place.

export const FACETS = ["category", "language", "cost_band", "day"];

// The query string of GET /search/programs for the widget's state.
export function searchParams(state, { facets = true } = {}) {
  const p = new URLSearchParams();
  if (state.q) p.set("q", state.q);
  if (state.category) p.append("category", state.category);
  if (state.age !== "" && state.age != null) p.set("age", String(state.age));
  if (state.grade) p.set("grade", state.grade);
  if (state.free) p.set("free", "true");
  if (state.language) p.append("language", state.language);
  for (const day of state.days) p.append("day", day);
  if (state.timeFrom) p.set("time_from", state.timeFrom);
  if (state.near) {
    p.set("near", `${state.near.lat.toFixed(5)},${state.near.lng.toFixed(5)}`);
    if (state.radiusMiles) p.set("radius_m", String(Math.round(state.radiusMiles * 1609.344)));
    if (!state.q) p.set("sort", "distance");
  }
  p.set("page", String(state.page));
  p.set("per_page", String(state.perPage));
  if (facets) p.set("facets", FACETS.join(","));
  return p;
}

export async function search(base, state, lang, { facets = true, signal } = {}) {
  const url = `${base}/search/programs?${searchParams(state, { facets })}`;
  const response = await fetch(url, {
    headers: { Accept: "application/json", "Accept-Language": lang },
    signal,
  });
  if (!response.ok) throw new Error(`search answered ${response.status}`);
  return response.json();
}

// The middle of a ZIP code's area (its bounding box), or null when unknown here.
export async function zipPlace(base, zip) {
  const response = await fetch(`${base}/areas/zip/${encodeURIComponent(zip)}`, {
    headers: { Accept: "application/geo+json" },
  });
  if (!response.ok) return null;
  const feature = await response.json();
  let [west, south, east, north] = [180, 90, -180, -90];
  const visit = (c) => {
    if (typeof c[0] === "number") {
      west = Math.min(west, c[0]);
      east = Math.max(east, c[0]);
      south = Math.min(south, c[1]);
      north = Math.max(north, c[1]);
    } else c.forEach(visit);
  };
  visit(feature.geometry.coordinates);
  return { lat: (south + north) / 2, lng: (west + east) / 2 };
}
