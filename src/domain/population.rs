//! The population of each prefecture, the denominator of the outbreak-stage
//! indicators "per 100,000".
//!
//! Source: the 2020 Population Census of Japan (令和2年国勢調査), final
//! figures of the total population by prefecture, published by the
//! Statistics Bureau of the Ministry of Internal Affairs and
//! Communications. The national total is their sum, 126,146,099, as
//! published. A later census replaces the table as a whole.

/// The census the table comes from.
pub const SOURCE: &str = "2020 Population Census of Japan, total population by prefecture (Statistics Bureau, MIC)";

/// The population of the prefectures in JIS order (index 0 is "01",
/// Hokkaido).
pub const BY_PREFECTURE: [i64; 47] = [
    5_224_614, 1_237_984, 1_210_534, 2_301_996, 959_502, 1_068_027, 1_833_152, 2_867_009, 1_933_146, 1_939_110,
    7_344_765, 6_284_480, 14_047_594, 9_237_337, 2_201_272, 1_034_814, 1_132_526, 766_863, 809_974, 2_048_011,
    1_978_742, 3_633_202, 7_542_415, 1_770_254, 1_413_610, 2_578_087, 8_837_685, 5_465_002, 1_324_473, 922_584,
    553_407, 671_126, 1_888_432, 2_799_702, 1_342_059, 719_559, 950_244, 1_334_841, 691_527, 5_135_214, 811_442,
    1_312_317, 1_738_301, 1_123_852, 1_069_576, 1_588_256, 1_467_480,
];

/// The population of a prefecture by its ID (its JIS number, 1 to 47).
pub fn of_prefecture(id: i32) -> Option<i64> {
    usize::try_from(id - 1).ok().and_then(|i| BY_PREFECTURE.get(i).copied())
}

/// The population of the whole country.
pub fn national() -> i64 {
    BY_PREFECTURE.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_national_total_is_the_published_one() {
        assert_eq!(national(), 126_146_099);
        assert_eq!(of_prefecture(13), Some(14_047_594), "Tokyo");
        assert_eq!(of_prefecture(0), None);
        assert_eq!(of_prefecture(48), None);
    }
}
