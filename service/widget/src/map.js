// The map of a page of hits (Leaflet). Tiles come only from the URL the partner sets
// (`tiles-url`); without one nothing is fetched and the markers stand on a plain ground.
import L from "leaflet";
import leafletCss from "leaflet/dist/leaflet.css";

export const MAP_CSS = leafletCss;

export class HitMap {
  constructor(container, { tilesUrl, attribution, label }) {
    this.map = L.map(container, {
      zoomControl: true,
      attributionControl: Boolean(tilesUrl),
      keyboard: true,
    });
    container.setAttribute("role", "region");
    container.setAttribute("aria-label", label);
    if (tilesUrl) {
      L.tileLayer(tilesUrl, { attribution: attribution || "", maxZoom: 19 }).addTo(this.map);
    }
    this.layer = L.layerGroup().addTo(this.map);
    this.map.setView([41.1177, -73.4082], 12);
  }

  label(text) {
    this.map.getContainer().setAttribute("aria-label", text);
  }

  show(hits, near) {
    this.layer.clearLayers();
    const points = [];
    for (const hit of hits) {
      const at = hit.nearest_location;
      if (!at || at.latitude == null || at.longitude == null) continue;
      const marker = L.circleMarker([at.latitude, at.longitude], {
        radius: 8,
        weight: 2,
        color: "#1e3a8a",
        fillColor: "#3b82f6",
        fillOpacity: 0.85,
      });
      marker.bindTooltip(hit.name);
      marker.addTo(this.layer);
      points.push([at.latitude, at.longitude]);
    }
    if (near) {
      L.circleMarker([near.lat, near.lng], { radius: 6, color: "#b45309", fillOpacity: 1 })
        .addTo(this.layer);
      points.push([near.lat, near.lng]);
    }
    this.map.invalidateSize();
    if (points.length === 1) this.map.setView(points[0], 14);
    else if (points.length > 1) this.map.fitBounds(points, { padding: [24, 24], maxZoom: 15 });
  }
}
