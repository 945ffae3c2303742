import { describe, expect, it } from "vitest";
import { ServerClock } from "./clock";

describe("ServerClock", () => {
  it("counts by the server's time when the browser's clock is an hour ahead", () => {
    // GIVEN a browser clock one hour ahead of the server
    let local = 10_000_000 + 3_600_000;
    const clock = new ServerClock(() => local);
    // WHEN a reply stamped by the server arrives after a 100 ms round trip
    clock.observe(10_000_050, local, local + 100);
    local += 100;
    // THEN now() is the server's time, give or take half the round trip
    expect(clock.now()).toBe(10_000_100);
  });

  it("keeps the sample with the shortest round trip until it is told to resync", () => {
    // GIVEN an exact sample (2 ms round trip)
    const clock = new ServerClock(() => 0);
    clock.observe(5_001, 0, 2);
    // WHEN a slow reply (2 s round trip) claims a different offset
    clock.observe(9_000, 0, 2_000);
    // THEN the exact one stands
    expect(clock.offset).toBe(5_000);
    // AND after a resync (tab focus) the next sample counts, whatever its round trip
    clock.resync();
    clock.observe(9_000, 0, 2_000);
    expect(clock.offset).toBe(8_000);
  });

  it("tells its listeners when the offset changes", () => {
    const clock = new ServerClock(() => 0);
    let told = 0;
    clock.subscribe(() => (told += 1));
    clock.observe(1_000, 0, 0);
    clock.observe(1_000, 0, 0);
    expect(told).toBe(1);
  });
});
