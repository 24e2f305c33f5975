//! Spec → marshalled LLB for examples/webapp (release), image lookups stubbed,
//! as the compile step runs inside the frontend. BuildKit's dockerfile2llb takes
//! about 1.3 ms and 5,400 allocations for the equivalent hand-written Dockerfile;
//! the goal is at least 10× better on both. Prints ratios; asserts nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{criterion_group, Criterion};
use leaven::compile::{self, BaseImage, Inputs};
use leaven::hcl::SourceFile;
use leaven::llb::{self, Caps, LocalSource, Platform};

/// Counts allocations so the bench can report them beside the time.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const DOCKERFILE2LLB_MS: f64 = 1.3;
const DOCKERFILE2LLB_ALLOCATIONS: f64 = 5400.0;

/// Parse, check, compile and marshal: everything the frontend does between
/// reading the spec and sending the solve.
fn spec_to_definition(text: &str, caps: &Caps) -> usize {
    let file = SourceFile::new("app.hcl", text);
    let spec = leaven::spec::parse_spec(&file, &BTreeMap::new()).expect("the example parses");
    let target = compile::select_target(&spec, None).expect("it has an image");
    let plan = compile::plan(&spec, &target);
    let bases: BTreeMap<String, BaseImage> = plan
        .images
        .iter()
        .map(|r| (r.clone(), BaseImage { reference: llb::normalize_image_ref(r), ..Default::default() }))
        .collect();
    let context = LocalSource { name: "context".into(), session_id: Some("session".into()), ..Default::default() };
    let inputs = Inputs {
        context,
        bases: &bases,
        caps,
        platform: Platform::linux_amd64(),
        resolve_mode: llb::ResolveMode::Default,
        no_cache: compile::NoCache::Off,
    };
    let compiled = compile::compile(&plan, &inputs).expect("it compiles");
    let def = llb::marshal::definition(&compiled.state, false);
    def.def.len() + compiled.config.to_json().len()
}

fn example() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/webapp/app.hcl")).expect("example exists")
}

fn bench(c: &mut Criterion) {
    let text = example();
    let caps = Caps::current();
    c.bench_function("webapp spec → LLB definition", |b| b.iter(|| spec_to_definition(&text, &caps)));
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();

    // Our own summary: median time and allocations per run, against dockerfile2llb.
    let text = example();
    let caps = Caps::current();
    let mut times = Vec::new();
    let mut allocations = 0;
    for _ in 0..200 {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let started = Instant::now();
        std::hint::black_box(spec_to_definition(&text, &caps));
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    }
    times.sort_by(f64::total_cmp);
    let ms = times[times.len() / 2];
    println!("spec → LLB (webapp release): {ms:.3} ms, {allocations} allocations per run");
    println!(
        "vs dockerfile2llb (1.3 ms, 5,400 allocations): {:.1}× faster, {:.1}× fewer allocations (goal: ≥ 10×)",
        DOCKERFILE2LLB_MS / ms,
        DOCKERFILE2LLB_ALLOCATIONS / allocations as f64
    );
}
