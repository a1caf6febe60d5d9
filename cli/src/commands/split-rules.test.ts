import { SplitRulesSchema } from '@flotilla/protocol';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { parseRule, parseTarget, ruleText, targetsText } from './split-rules.ts';

describe('flotilla split set syntax', () => {
  it('reads targets with and without a router destination', () => {
    expect(parseTarget('x', 'shop-3f2a1b9c0d1e=90')).toEqual({
      deploymentId: 'shop-3f2a1b9c0d1e',
      percent: 90,
    });
    expect(parseTarget('x', 'shop-3f2a1b9c0d1e:new_experience=10%')).toEqual({
      deploymentId: 'shop-3f2a1b9c0d1e',
      destination: 'new_experience',
      percent: 10,
    });
    expect(() => parseTarget('<deployment-id>=<percent>', 'shop-3f2a1b9c0d1e')).toThrow(
      /"shop-3f2a1b9c0d1e" must be <deployment-id>\[:<destination>\]=<whole percent>/,
    );
  });

  it('reads rules: criteria joined with &, targets with commas; the shared schema accepts them', () => {
    const rule = parseRule(
      'cookie:beta=1 & header:X-Variant & device:smartphone|tablet & country:de|AT -> shop-3f2a1b9c0d1e:mobile=50, shop-77aa01bc22de=50',
    );
    expect(rule).toEqual({
      when: {
        cookie: { name: 'beta', value: '1' },
        header: { name: 'X-Variant' },
        device: ['smartphone', 'tablet'],
        country: ['de', 'AT'],
      },
      split: [
        { deploymentId: 'shop-3f2a1b9c0d1e', destination: 'mobile', percent: 50 },
        { deploymentId: 'shop-77aa01bc22de', percent: 50 },
      ],
    });
    const [checked] = v.parse(SplitRulesSchema, [rule]);
    // Header names lower-cased, countries upper-cased, as the shield compares them.
    expect(checked?.when.header).toEqual({ name: 'x-variant' });
    expect(checked?.when.country).toEqual(['DE', 'AT']);
    expect(ruleText(checked as never)).toBe(
      'cookie:beta=1&header:x-variant&device:smartphone|tablet&country:DE|AT -> shop-3f2a1b9c0d1e:mobile=50,shop-77aa01bc22de=50',
    );
    expect(targetsText(checked?.split ?? [])).toBe(
      'shop-3f2a1b9c0d1e:mobile 50%, shop-77aa01bc22de 50%',
    );
  });

  it('names what is wrong with a rule', () => {
    expect(() => parseRule('cookie:beta')).toThrow(/must be <criteria> -> <targets>/);
    expect(() => parseRule('ip:1.2.3.4 -> shop-3f2a1b9c0d1e=100')).toThrow(
      /criterion "ip:1.2.3.4" must be cookie:<name>/,
    );
    expect(() => parseRule('cookie:a&cookie:b -> shop-3f2a1b9c0d1e=100')).toThrow(
      /names cookie twice/,
    );
    expect(() => parseRule('cookie:a -> ')).toThrow(/names no target/);
    const issues = v.safeParse(SplitRulesSchema, [
      parseRule('device:phone -> shop-3f2a1b9c0d1e=60'),
    ]).issues;
    expect(issues?.map((i) => i.message).join('; ')).toMatch(
      /must be one of smartphone, tablet, mobile, desktop.*percents must add up to 100, got 60 = 60|percents must add up to 100/,
    );
  });
});
