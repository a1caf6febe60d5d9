import { describe, expect, it } from 'vitest';
import { assetFileSegments, ROOT_ASSET_FILE } from './asset-file.ts';

describe('assetFileSegments', () => {
  it("keeps an asset's file at its URL path under assets/", () => {
    expect(assetFileSegments('/styles.css')).toEqual(['styles.css']);
    expect(assetFileSegments('/assets/app-1a2b3c4d.js')).toEqual(['assets', 'app-1a2b3c4d.js']);
    expect(assetFileSegments('/about')).toEqual(['about']);
  });

  it('keeps the root page under a name no asset path can have', () => {
    expect(assetFileSegments('/')).toEqual([ROOT_ASSET_FILE]);
    expect(ROOT_ASSET_FILE).toContain('#');
  });
});
