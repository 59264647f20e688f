// Every string the widget shows, in English and Spanish, and the language it picks.

export const STRINGS = {
  en: {
    title: "Find a program",
    searchLabel: "Search programs",
    searchPlaceholder: "Try robotics, tutoring, soccer…",
    searchButton: "Search",
    suggestions: "Suggestions",
    filters: "Filters",
    age: "Child's age",
    grade: "Grade",
    anyGrade: "Any grade",
    cost: "Cost",
    freeOnly: "Free only",
    language: "Language",
    anyLanguage: "Any language",
    days: "Days",
    startsAfter: "Starts at or after",
    category: "Kind of program",
    anyCategory: "Any kind",
    where: "Near",
    zip: "ZIP code",
    useLocation: "Use my location",
    locationAsk: "We use your location only to sort programs by distance. It is not stored.",
    locationDenied: "Location not shared. You can type a ZIP code instead.",
    locationUsing: "Sorted by distance from your location.",
    zipUnknown: "We do not know that ZIP code in this area.",
    zipUsing: (zip) => `Sorted by distance from ZIP ${zip}.`,
    within: "Within",
    anyDistance: "Any distance",
    miles: (n) => `${n} miles`,
    clear: "Clear filters",
    results: (n) => (n === 1 ? "1 program" : `${n.toLocaleString("en-US")} programs`),
    resultsMore: (n) => `More than ${n.toLocaleString("en-US")} programs`,
    loading: "Searching…",
    noResults: "No programs match. Try fewer filters or another word.",
    error: "Search is not available right now. Please try again in a moment.",
    map: "Map of the programs on this page",
    page: (p, n) => `Page ${p} of ${n}`,
    previous: "Previous",
    next: "Next",
    pages: "Pages",
    ages: (lo, hi) => (hi == null ? `Ages ${lo}+` : `Ages ${lo}–${hi}`),
    allAges: "All ages",
    grades: (lo, hi) => (lo === hi ? `Grade ${lo}` : `Grades ${lo}–${hi}`),
    free: "Free",
    perMonth: (n) => `$${n} a month`,
    sliding: "Sliding scale",
    scholarships: "Scholarships",
    away: (mi) => `${mi} mi away`,
    online: "Online",
    languages: "Languages",
    schedule: "When",
    nextSteps: "Next steps",
    call: (phone) => `Call ${phone}`,
    website: "Website",
    email: "Email",
    askCounselor: "Ask your school counselor to refer you",
    by: (org) => `by ${org}`,
    count: (n) => `(${n})`,
    categories: {
      out_of_school_time: "After school & summer",
      social_emotional_health: "Social & emotional health",
      college_career: "College & career",
    },
    dayNames: { MO: "Mon", TU: "Tue", WE: "Wed", TH: "Thu", FR: "Fri", SA: "Sat", SU: "Sun" },
  },
  es: {
    title: "Encuentre un programa",
    searchLabel: "Buscar programas",
    searchPlaceholder: "Pruebe robótica, tutoría, fútbol…",
    searchButton: "Buscar",
    suggestions: "Sugerencias",
    filters: "Filtros",
    age: "Edad del niño",
    grade: "Grado",
    anyGrade: "Cualquier grado",
    cost: "Costo",
    freeOnly: "Solo gratis",
    language: "Idioma",
    anyLanguage: "Cualquier idioma",
    days: "Días",
    startsAfter: "Empieza a partir de",
    category: "Tipo de programa",
    anyCategory: "Cualquier tipo",
    where: "Cerca de",
    zip: "Código postal",
    useLocation: "Usar mi ubicación",
    locationAsk:
      "Usamos su ubicación solo para ordenar los programas por distancia. No se guarda.",
    locationDenied: "No se compartió la ubicación. Puede escribir un código postal.",
    locationUsing: "Ordenados por distancia desde su ubicación.",
    zipUnknown: "No conocemos ese código postal en esta zona.",
    zipUsing: (zip) => `Ordenados por distancia desde el código postal ${zip}.`,
    within: "A menos de",
    anyDistance: "Cualquier distancia",
    miles: (n) => `${n} millas`,
    clear: "Quitar filtros",
    results: (n) => (n === 1 ? "1 programa" : `${n.toLocaleString("es-US")} programas`),
    resultsMore: (n) => `Más de ${n.toLocaleString("es-US")} programas`,
    loading: "Buscando…",
    noResults: "Ningún programa coincide. Pruebe con menos filtros u otra palabra.",
    error: "La búsqueda no está disponible ahora. Inténtelo de nuevo en un momento.",
    map: "Mapa de los programas de esta página",
    page: (p, n) => `Página ${p} de ${n}`,
    previous: "Anterior",
    next: "Siguiente",
    pages: "Páginas",
    ages: (lo, hi) => (hi == null ? `Desde ${lo} años` : `De ${lo} a ${hi} años`),
    allAges: "Todas las edades",
    grades: (lo, hi) => (lo === hi ? `Grado ${lo}` : `Grados ${lo} a ${hi}`),
    free: "Gratis",
    perMonth: (n) => `$${n} al mes`,
    sliding: "Escala móvil",
    scholarships: "Becas",
    away: (mi) => `a ${mi} mi`,
    online: "En línea",
    languages: "Idiomas",
    schedule: "Cuándo",
    nextSteps: "Próximos pasos",
    call: (phone) => `Llamar al ${phone}`,
    website: "Sitio web",
    email: "Correo",
    askCounselor: "Pida a su consejero escolar que le refiera",
    by: (org) => `de ${org}`,
    count: (n) => `(${n})`,
    categories: {
      out_of_school_time: "Después de clases y verano",
      social_emotional_health: "Salud social y emocional",
      college_career: "Universidad y carrera",
    },
    dayNames: { MO: "lun", TU: "mar", WE: "mié", TH: "jue", FR: "vie", SA: "sáb", SU: "dom" },
  },
};

export const DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
export const GRADES = ["PK", "K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"];

// The element's `lang`, else the page's, else the browser's first preference.
export function pickLanguage(element) {
  const tagged = element.closest("[lang]")?.getAttribute("lang");
  const wanted = [tagged, ...(navigator.languages || [navigator.language])].filter(Boolean);
  for (const tag of wanted) {
    const base = tag.toLowerCase().split("-")[0];
    if (base in STRINGS) return base;
  }
  return "en";
}

// ISO 639-3 codes the catalog stores, as the two-letter tags Intl knows names for.
const TWO_LETTER = {
  eng: "en", spa: "es", por: "pt", fra: "fr", hat: "ht", zho: "zh", ara: "ar",
  rus: "ru", vie: "vi", kor: "ko", pol: "pl", ita: "it", deu: "de", tgl: "tl",
  hin: "hi", ben: "bn", urd: "ur", yid: "yi", heb: "he", jpn: "ja", ell: "el",
};

export function languageName(code, lang) {
  try {
    const names = new Intl.DisplayNames([lang], { type: "language" });
    return names.of(TWO_LETTER[code] || code) || code;
  } catch {
    return code;
  }
}

// "15:30" as the reader's clock shows it ("3:30 PM", "15:30").
export function clock(hhmm, lang) {
  const [h, m] = hhmm.split(":").map(Number);
  const when = new Date(Date.UTC(2000, 0, 1, h, m));
  return new Intl.DateTimeFormat(lang === "es" ? "es-US" : "en-US", {
    hour: "numeric",
    minute: "2-digit",
    timeZone: "UTC",
  }).format(when);
}

// Weekly sessions grouped by time: "Mon, Wed 3:00 PM–5:00 PM".
export function scheduleSummary(sessions, lang) {
  const t = STRINGS[lang];
  const byTime = new Map();
  for (const s of sessions) {
    const key = `${s.opens}–${s.closes}`;
    if (!byTime.has(key)) byTime.set(key, []);
    byTime.get(key).push(s.day);
  }
  return [...byTime.entries()]
    .map(([key, days]) => {
      const [opens, closes] = key.split("–");
      const named = days.map((d) => t.dayNames[d] || d).join(", ");
      return `${named} ${clock(opens, lang)}–${clock(closes, lang)}`;
    })
    .join("; ");
}
