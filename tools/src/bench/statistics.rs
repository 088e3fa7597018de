//! `hersys-tools bench statistics`: times the statistics on a synthetic data set
//! (seeding it first when the database has none) and prints the figures:
//! the daily series nationwide and for each prefecture, a 4-dimension
//! cross-tabulation, the care status, the reports of the investigation
//! (unknown-route share, stage indicators, clusters by setting, the route
//! cross-tabulation) and four open-data files.

use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};

use hersys::services::crosstab::{self, Dimension};
use hersys::services::statistics::{self, Area, OpenDataSeries};

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The database (PostgreSQL or SQLite) holding, or to hold, the set.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// Patients to seed when the database holds no synthetic set yet.
    #[arg(long, default_value_t = 1_000_000)]
    pub patients: u64,
    /// Runs of each query; the median and the slowest are printed.
    #[arg(long, default_value_t = 5)]
    pub iterations: usize,
}

async fn time<F, Fut, T>(iterations: usize, mut run: F) -> anyhow::Result<(Duration, Duration, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut samples = Vec::with_capacity(iterations);
    let mut last = None;
    for _ in 0..iterations.max(1) {
        let started = Instant::now();
        last = Some(run().await?);
        samples.push(started.elapsed());
    }
    samples.sort();
    let result = last.ok_or_else(|| anyhow::anyhow!("no run"))?;
    Ok((samples[samples.len() / 2], samples[samples.len() - 1], result))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let db = sea_orm::Database::connect(options.database_url.as_str()).await?;
    hersys::db::migrate(&db).await?;
    let loaded = sea_orm::ConnectionTrait::query_one_raw(
        &db,
        sea_orm::Statement::from_string(
            sea_orm::ConnectionTrait::get_database_backend(&db),
            "SELECT COUNT(*) AS n FROM accounts WHERE username = 'synthetic-loader'".to_owned(),
        ),
    )
    .await?
    .and_then(|row| row.try_get::<i64>("", "n").ok())
    .unwrap_or(0);
    if loaded == 0 {
        println!("seeding {} synthetic patients first", options.patients);
        crate::synthetic::seed(&db, options.patients, 2020).await?;
    }
    // Whatever was written through the gateway since is folded first, as
    // the running gateway's background task would have.
    statistics::ledger::fold_all(&db).await.map_err(describe)?;
    for table in [
        "patients",
        "lab_tests",
        "stat_events",
        "stat_cases",
        "stat_daily",
        "patient_contacts",
        "clusters",
        "cluster_members",
        "prefecture_capacity",
    ] {
        let rows = sea_orm::ConnectionTrait::query_one_raw(
            &db,
            sea_orm::Statement::from_string(
                sea_orm::ConnectionTrait::get_database_backend(&db),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ),
        )
        .await?
        .and_then(|row| row.try_get::<i64>("", "n").ok())
        .unwrap_or(0);
        println!("{table}: {rows} rows");
    }
    let from = NaiveDate::from_ymd_opt(2022, 1, 1).unwrap_or_default();
    let to = NaiveDate::from_ymd_opt(2022, 12, 31).unwrap_or_default();
    let as_of = Utc::now();
    let n = options.iterations;

    let (median, max, days) =
        time(n, || async { statistics::daily(&db, Area::Nation, from, to, as_of).await.map_err(describe) }).await?;
    let positives: i64 = days.iter().map(|d| d.positives).sum();
    let tests: i64 = days.iter().map(|d| d.tests).sum();
    let deaths: i64 = days.iter().map(|d| d.deaths).sum();
    let peak_severe = days.iter().map(|d| d.severe).max().unwrap_or(0);
    println!(
        "daily, nationwide, 365 days: median {:.0} ms, max {:.0} ms \
         ({tests} tests, {positives} positives, {deaths} deaths, at most {peak_severe} severe on a day)",
        ms(median),
        ms(max)
    );

    let (median, max, _) = time(n, || async {
        for prefecture in 1..=47 {
            statistics::daily(&db, Area::Prefecture(prefecture), from, to, as_of).await.map_err(describe)?;
        }
        Ok(())
    })
    .await?;
    println!(
        "daily, each of the 47 prefectures, 365 days: median {:.0} ms, max {:.0} ms (47 queries)",
        ms(median),
        ms(max)
    );

    let dimensions = vec![Dimension::Week, Dimension::Prefecture, Dimension::AgeBand, Dimension::Sex];
    cross_tab(&db, n, dimensions, "week × prefecture × age band × sex", (from, to), as_of).await?;

    let (median, max, _) =
        time(n, || async { statistics::care_status(&db, Area::Nation, as_of).await.map_err(describe) }).await?;
    println!("careStatus, nationwide: median {:.0} ms, max {:.0} ms", ms(median), ms(max));

    let (median, max, weeks) =
        time(n, || async { statistics::unknown_route(&db, Area::Nation, from, to, as_of).await.map_err(describe) })
            .await?;
    let (cases, unknown) = weeks.iter().fold((0, 0), |(c, u), w| (c + w.cases, u + w.unknown));
    println!(
        "unknownRoute, nationwide, 53 weeks: median {:.0} ms, max {:.0} ms ({unknown} of {cases} cases, {:.1} %)",
        ms(median),
        ms(max),
        unknown as f64 * 100.0 / cases.max(1) as f64
    );

    let peak = NaiveDate::from_ymd_opt(2022, 8, 15).unwrap_or_default();
    let (median, max, stage) = time(n, || async {
        statistics::indicators::stage_indicators(&db, Area::Nation, peak, as_of).await.map_err(describe)
    })
    .await?;
    println!(
        "stageIndicators, nationwide, one day: median {:.0} ms, max {:.0} ms (on {peak}: bed occupancy {:.1} %, \
         {:.1} under care and {:.1} new per 100,000, positivity {:.1} %, week on week {:.2}, unknown route {:.1} %)",
        ms(median),
        ms(max),
        stage.bed_occupancy.unwrap_or(f64::NAN) * 100.0,
        stage.under_care_per_100k,
        stage.new_cases_per_100k,
        stage.positivity.unwrap_or(f64::NAN) * 100.0,
        stage.week_on_week.unwrap_or(f64::NAN),
        stage.unknown_route_share.unwrap_or(f64::NAN) * 100.0
    );
    let (median, max, _) = time(n, || async {
        for prefecture in 1..=47 {
            statistics::indicators::stage_indicators(&db, Area::Prefecture(prefecture), peak, as_of)
                .await
                .map_err(describe)?;
        }
        Ok(())
    })
    .await?;
    println!(
        "stageIndicators, each of the 47 prefectures: median {:.0} ms, max {:.0} ms (47 queries)",
        ms(median),
        ms(max)
    );

    let (median, max, settings) =
        time(n, || async { hersys::services::clusters::by_setting(&db, Area::Nation, as_of).await.map_err(describe) })
            .await?;
    let clusters: i64 = settings.iter().map(|(_, c, _)| c).sum();
    let members: i64 = settings.iter().map(|(_, _, m)| m).sum();
    println!(
        "clustersBySetting, nationwide: median {:.0} ms, max {:.0} ms ({clusters} clusters of {members} people in {} settings)",
        ms(median),
        ms(max),
        settings.len()
    );

    let dimensions = vec![Dimension::Week, Dimension::Prefecture, Dimension::Route];
    cross_tab(&db, n, dimensions, "week × prefecture × route", (from, to), as_of).await?;

    let (median, max, file) =
        time(n, || async { statistics::indicators::files::stage_indicators_daily(&db, as_of).await.map_err(describe) })
            .await?;
    println!(
        "stage_indicators_daily.csv (every day × 6 indicators × 47 prefectures): median {:.0} ms, max {:.0} ms ({} bytes)",
        ms(median),
        ms(max),
        file.len()
    );
    let (median, max, file) =
        time(n, || async { statistics::indicators::files::unknown_route_weekly(&db, as_of).await.map_err(describe) })
            .await?;
    println!(
        "unknown_route_share_weekly.csv: median {:.0} ms, max {:.0} ms ({} bytes)",
        ms(median),
        ms(max),
        file.len()
    );

    for (file, series) in [
        ("newly_confirmed_cases_daily.csv", OpenDataSeries::NewlyConfirmed),
        ("severe_cases_daily.csv", OpenDataSeries::Severe),
    ] {
        let (median, max, counts) = time(n, || async {
            let counts = statistics::by_day_and_prefecture(&db, series, as_of).await.map_err(describe)?;
            Ok(statistics::open_data_csv(&counts, as_of, series.is_stock()))
        })
        .await?;
        println!(
            "{file} (every day × 47 prefectures): median {:.0} ms, max {:.0} ms ({} bytes)",
            ms(median),
            ms(max),
            counts.len()
        );
    }
    Ok(())
}

/// Times a nationwide cross-tabulation by `dimensions` over `from`..=`to`
/// and prints it as `label`.
async fn cross_tab(
    db: &sea_orm::DatabaseConnection,
    n: usize,
    dimensions: Vec<Dimension>,
    label: &str,
    (from, to): (NaiveDate, NaiveDate),
    as_of: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    let request = crosstab::Request {
        dimensions,
        from,
        to,
        area: Area::Nation,
        sex: None,
        case_type: None,
        as_of,
        k: None,
        for_publication: false,
    };
    let (median, max, table) = time(n, || async {
        crosstab::cross_tab(db, &request, hersys::config::DEFAULT_MAX_CROSSTAB_CELLS).await.map_err(describe)
    })
    .await?;
    println!(
        "crossTab {label}, 365 days: median {:.0} ms, max {:.0} ms ({} cells, {} suppressed)",
        ms(median),
        ms(max),
        table.cells.len(),
        table.cells.iter().filter(|c| c.suppressed).count()
    );
    Ok(())
}

fn describe(error: hersys::error::AppError) -> anyhow::Error {
    anyhow::anyhow!("{}", error.message())
}
